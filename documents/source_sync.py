"""A source's sync settings: read with their defaults, and which documents list they mean."""

import re
from urllib.parse import urlsplit

from sources.models import Source, SourceSync

API_VERSION = re.compile(r"/v(\d+)(?:\.\d+)?(?:/|$)", re.IGNORECASE)


def source_documents_scope(*, source: Source) -> str:
    """VERSION or LATEST: the source's setting, or for AUTO the major version in its API base URL (v2 and later)."""
    scope = source_sync_get(source=source).documents_scope
    if scope != SourceSync.DocumentsScope.AUTO:
        return scope
    match = API_VERSION.search(urlsplit(source.api_base_url).path)
    return SourceSync.DocumentsScope.VERSION if match and int(match[1]) >= 2 else SourceSync.DocumentsScope.LATEST


def source_sync_get(*, source: Source) -> SourceSync:
    """The source's sync settings, created with the defaults on first use."""
    sync, _ = SourceSync.objects.get_or_create(source=source)
    return sync

"""How a stored document is served to staff: its content type's short name, whether a browser may
show it in the page (the preview), and what a download answers with."""

from dataclasses import dataclass

from django.core.files import File

from core.http import media_type_of

from .models import Document
from .storage import object_download_url, object_open

# Shown inline in the page (the preview). Only types a browser renders without running anything
# of the document's: no HTML, no SVG, which would run as our own origin.
PREVIEW_KINDS = {
    "application/pdf": "pdf",
    "image/png": "image",
    "image/jpeg": "image",
    "image/gif": "image",
    "image/webp": "image",
}
# Short names for lists; any other type is shown as its media type.
TYPE_LABELS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/msword": "DOC",
    "application/rtf": "RTF",
    "text/plain": "Text",
    "text/html": "HTML",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
}


class DocumentNotStored(Exception):
    """The document has no stored bytes (yet): nothing to download."""


def content_type_label(content_type: str, *, unknown: str | None = None) -> str:
    """A content type's short name ("PDF", "DOCX"); for a type without one, `unknown`, else its media type."""
    media_type = media_type_of(content_type)
    return TYPE_LABELS.get(media_type) or (media_type if unknown is None else unknown)


def document_preview_kind(document: Document) -> str | None:
    """ "pdf" or "image" for a stored document the browser can show in the page, else None."""
    if document.status != Document.Status.STORED or not document.storage_key:
        return None
    return PREVIEW_KINDS.get(media_type_of(document.content_type))


@dataclass(frozen=True)
class DocumentDownload:
    """A stored document's answer: a short-lived URL to follow (S3), or the open file (filesystem)."""

    filename: str
    inline: bool  # displayed in the page (the preview), not saved as a file
    content_type: str
    url: str | None
    file: File | None


def document_download(*, document: Document, inline: bool) -> DocumentDownload:
    """The stored bytes of a document, as a download or, for a previewable type, for display.

    Raises DocumentNotStored when it has no stored bytes, FileNotFoundError when they are missing.
    """
    if document.status != Document.Status.STORED or not document.storage_key:
        raise DocumentNotStored(document.pk)
    filename = document.filename or str(document)
    # Only a type the preview may show is ever served inline; any other is always a download.
    inline = inline and document_preview_kind(document) is not None
    content_type = media_type_of(document.content_type) if inline else document.content_type
    url = object_download_url(key=document.storage_key, filename=filename, inline_as=content_type if inline else None)
    return DocumentDownload(
        filename=filename,
        inline=inline,
        content_type=content_type or "application/octet-stream",
        url=url,
        file=None if url is not None else object_open(key=document.storage_key),
    )

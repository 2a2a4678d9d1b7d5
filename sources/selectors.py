"""Reads of sources, their sync settings and grants for the edges (admin pages)."""

from .models import Source, SourceAccess, SourceSync


def source_sync_find(*, source_id: int) -> SourceSync | None:
    """The source's sync settings, or None when none were saved yet."""
    return SourceSync.objects.filter(source_id=source_id).first()


def source_access_list(*, source: Source) -> list[SourceAccess]:
    """The grants on the source, highest level first, with their user or group."""
    order = {"manage": 0, "download": 1, "view": 2}
    grants = SourceAccess.objects.filter(source=source).select_related("user", "group")
    return sorted(grants, key=lambda grant: (order[grant.level], str(grant.user or grant.group)))

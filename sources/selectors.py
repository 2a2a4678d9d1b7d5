"""Reads of sources and their sync settings for the edges (admin pages)."""

from .models import SourceSync


def source_sync_find(*, source_id: int) -> SourceSync | None:
    """The source's sync settings, or None when none were saved yet."""
    return SourceSync.objects.filter(source_id=source_id).first()

"""Reading the audit log: the access records an export or the admin lists, a document's latest."""

from datetime import datetime

from django.db.models import QuerySet

from .models import AccessRecord

EXPORT_CHUNK_ROWS = 2000


def access_records_find(
    *, since: datetime | None = None, username: str | None = None, source_slug: str | None = None
) -> QuerySet[AccessRecord]:
    """The access records made since a time, by a user, on a source's documents (each filter optional)."""
    records = AccessRecord.objects.all()
    if since is not None:
        records = records.filter(at__gte=since)
    if username:
        records = records.filter(username=username)
    if source_slug:
        records = records.filter(source__slug=source_slug)
    return records


def access_records_for_export(records: QuerySet[AccessRecord]) -> QuerySet[AccessRecord]:
    """The records as an export reads them: oldest first, the source joined (no query per row)."""
    return records.select_related("source").order_by("at", "pk")


def document_accesses_recent(*, document_id: int, limit: int = 20) -> list[AccessRecord]:
    """The latest accesses to one document, newest first (one query, on its index)."""
    return list(AccessRecord.objects.filter(document_id=document_id).order_by("-at", "-pk")[:limit])

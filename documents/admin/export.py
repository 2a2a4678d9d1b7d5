"""The documents list as CSV: streamed row by row, never a formula to a spreadsheet."""

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from core.export import Echo, csv_cell

from ..models import Document

CHUNK_ROWS = 1000

CSV_COLUMNS = [
    ("id", lambda d: d.pk),
    ("source", lambda d: d.source.slug),
    ("work item id", lambda d: d.version.work_item.advance_id),
    ("work item name", lambda d: d.version.work_item.name),
    ("version id", lambda d: d.version.advance_id),
    ("version completed at", lambda d: d.version.completed_at.isoformat() if d.version.completed_at else ""),
    ("user login", lambda d: d.version.created_by_login),
    ("document id", lambda d: d.advance_id),
    ("name", lambda d: d.name),
    ("filename", lambda d: d.filename),
    ("content type", lambda d: d.content_type),
    ("size", lambda d: "" if d.size is None else d.size),
    ("sha256", lambda d: d.sha256),
    ("status", lambda d: d.status),
    ("synced at", lambda d: d.synced_at.isoformat() if d.synced_at else ""),
    ("storage key", lambda d: d.storage_key),
    ("attempts", lambda d: d.attempts),
    ("last error", lambda d: d.last_error),
]


def documents_by_keys(keys: list[int]) -> Iterator[Document]:
    """The documents of these keys, in their order, read CHUNK_ROWS at a time."""
    rows = Document.objects.select_related("version__work_item", "source")
    for start in range(0, len(keys), CHUNK_ROWS):
        chunk = keys[start : start + CHUNK_ROWS]
        by_key = rows.in_bulk(chunk)
        yield from (by_key[key] for key in chunk if key in by_key)


def documents_csv_response(documents: QuerySet | Iterable[Document]) -> StreamingHttpResponse:
    """The documents (a queryset, or documents read already, as documents_by_keys's) as CSV, streamed
    row by row (a list of any length, never all in memory)."""
    writer = csv.writer(Echo())
    if isinstance(documents, QuerySet):
        documents = documents.select_related("version__work_item", "source").iterator(chunk_size=CHUNK_ROWS)

    def rows() -> Iterator[str]:
        yield writer.writerow([name for name, _ in CSV_COLUMNS])
        for document in documents:
            yield writer.writerow([csv_cell(value(document)) for _, value in CSV_COLUMNS])

    filename = f"documents-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

"""The access audit as CSV or JSON lines, streamed row by row: the admin's export and the command's."""

import csv
import json
from collections.abc import Callable, Iterator

from django.db.models import QuerySet

from core.export import Echo, csv_cell

from .models import AccessRecord
from .selectors import EXPORT_CHUNK_ROWS, access_records_for_export

COLUMNS: list[tuple[str, Callable[[AccessRecord], object]]] = [
    ("at", lambda r: r.at.isoformat()),
    ("user", lambda r: r.username),
    ("address", lambda r: r.address or ""),
    ("action", lambda r: r.action),
    ("document id", lambda r: "" if r.document_id is None else r.document_id),
    ("document", lambda r: r.document_name),
    ("source", lambda r: r.source.slug if r.source_id and r.source else ""),
    ("query", lambda r: r.query),
    ("count", lambda r: "" if r.count is None else r.count),
    ("status", lambda r: r.status),
    ("detail", lambda r: r.detail),
]
FORMATS = ("csv", "jsonl")


def _rows(records: QuerySet[AccessRecord]) -> Iterator[AccessRecord]:
    return access_records_for_export(records).iterator(chunk_size=EXPORT_CHUNK_ROWS)


def access_records_csv(records: QuerySet[AccessRecord]) -> Iterator[str]:
    """A header line, then one CSV line per record; never a formula to a spreadsheet."""
    writer = csv.writer(Echo())
    yield writer.writerow([name for name, _ in COLUMNS])
    for record in _rows(records):
        yield writer.writerow([csv_cell(value(record)) for _, value in COLUMNS])


def access_records_jsonl(records: QuerySet[AccessRecord]) -> Iterator[str]:
    """One JSON object per line and record, keyed by the CSV's column names."""
    for record in _rows(records):
        yield json.dumps({name: value(record) for name, value in COLUMNS}, ensure_ascii=False) + "\n"


def access_records_lines(records: QuerySet[AccessRecord], *, format: str) -> Iterator[str]:
    if format not in FORMATS:
        raise ValueError(f"Unknown format {format!r}: one of {', '.join(FORMATS)}.")
    return access_records_csv(records) if format == "csv" else access_records_jsonl(records)

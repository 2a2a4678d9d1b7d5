"""`manage.py sync_status`: per source, documents by status, the oldest waiting one, failed events."""

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from documents.models import Document
from documents.selectors import sync_status_by_source
from documents.templatetags.operator_dashboard import duration_short

COLUMNS = ["source", *Document.Status.values, "total", "oldest pending", "events failed", "last synced"]


class Command(BaseCommand):
    help = "Summarise the sync per source: documents by status, the oldest pending, failed events, the last sync."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options) -> None:
        rows = sync_status_by_source()
        now = timezone.now()
        if options["json"]:
            self.stdout.write(self.as_json(rows, now))
            return
        table = []
        for row in rows:
            age = now - row.oldest_pending_at if row.oldest_pending_at else None
            table.append(
                [
                    row.source.slug,
                    *(str(row.counts[status]) for status in Document.Status.values),
                    str(row.total),
                    duration_short(age) if age else "-",
                    str(row.events_failed),
                    row.last_synced_at.strftime("%Y-%m-%d %H:%M") if row.last_synced_at else "-",
                ]
            )
        if rows:
            oldest = min((row.oldest_pending_at for row in rows if row.oldest_pending_at), default=None)
            table.append(
                [
                    "TOTAL",
                    *(str(sum(row.counts[status] for row in rows)) for status in Document.Status.values),
                    str(sum(row.total for row in rows)),
                    duration_short(now - oldest) if oldest else "-",
                    str(sum(row.events_failed for row in rows)),
                    "",
                ]
            )
        else:
            self.stdout.write("No sources yet (add one with advance_source_create).")
            return
        widths = [max(len(header), *(len(line[index]) for line in table)) for index, header in enumerate(COLUMNS)]
        self.stdout.write(self.line([header.upper() for header in COLUMNS], widths))
        for line in table:
            self.stdout.write(self.line(line, widths))

    @staticmethod
    def line(cells: list[str], widths: list[int]) -> str:
        # Names to the left, numbers to the right.
        first, *rest = cells
        right = (cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True))
        return "  ".join([first.ljust(widths[0]), *right]).rstrip()

    @staticmethod
    def as_json(rows, now) -> str:
        def age(row) -> float | None:
            return (now - row.oldest_pending_at).total_seconds() if row.oldest_pending_at else None

        return json.dumps(
            [
                {
                    "source": row.source.slug,
                    "documents": row.counts,
                    "total": row.total,
                    "oldest_pending_at": row.oldest_pending_at.isoformat() if row.oldest_pending_at else None,
                    "oldest_pending_seconds": age(row),
                    "events_failed": row.events_failed,
                    "last_synced_at": row.last_synced_at.isoformat() if row.last_synced_at else None,
                }
                for row in rows
            ],
            indent=2,
        )

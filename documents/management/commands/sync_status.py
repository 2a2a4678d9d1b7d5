"""`manage.py sync_status`: per source, documents by status, the oldest waiting one, failed events;
then each queue's waiting messages and the workers consuming it."""

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from core.queues import QueueState, queues_inspect
from documents.models import Document
from documents.selectors import sync_status_by_source
from documents.templatetags.operator_dashboard import duration_short

COLUMNS = ["source", *Document.Status.values, "total", "oldest pending", "events failed", "last synced"]


class Command(BaseCommand):
    help = (
        "Summarise the sync per source: documents by status, the oldest pending, failed events, the last sync; "
        "and what waits on each queue, naming a queue no worker consumes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options) -> None:
        rows = sync_status_by_source()
        now = timezone.now()
        try:
            queues, queues_error = queues_inspect(timeout=1.0), ""
        except Exception as error:  # the broker is down: the database's figures are still worth showing
            queues, queues_error = [], f"the broker did not answer ({type(error).__name__})"
        if options["json"]:
            self.stdout.write(self.as_json(rows, now, queues, queues_error))
            return
        self.sources_table(rows, now)
        self.queues_table(queues, queues_error)

    def sources_table(self, rows, now) -> None:
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

    def queues_table(self, queues: list[QueueState], error: str) -> None:
        self.stdout.write("")
        if error:
            self.stdout.write(f"Queues: {error}.")
            return
        table = [
            [
                state.name,
                str(state.depth),
                str(len(state.consumers)),
                "NO WORKER CONSUMES THIS QUEUE" if state.unconsumed else ("no worker" if not state.consumers else ""),
            ]
            for state in queues
        ]
        headers = ["QUEUE", "WAITING", "WORKERS", ""]
        widths = [max(len(header), *(len(line[index]) for line in table)) for index, header in enumerate(headers)]
        self.stdout.write(self.line(headers, widths))
        for line in table:
            self.stdout.write(self.line(line[:3], widths[:3]) + ("  " + line[3] if line[3] else ""))

    @staticmethod
    def line(cells: list[str], widths: list[int]) -> str:
        # Names to the left, numbers to the right.
        first, *rest = cells
        right = (cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True))
        return "  ".join([first.ljust(widths[0]), *right]).rstrip()

    @staticmethod
    def as_json(rows, now, queues: list[QueueState], queues_error: str) -> str:
        def age(row) -> float | None:
            return (now - row.oldest_pending_at).total_seconds() if row.oldest_pending_at else None

        sources = [
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
        ]
        return json.dumps(
            {
                "sources": sources,
                "queues": [
                    {
                        "name": state.name,
                        "waiting": state.depth,
                        "consumers": list(state.consumers),
                        "unconsumed": state.unconsumed,
                    }
                    for state in queues
                ],
                "queues_error": queues_error or None,
            },
            indent=2,
        )

"""`manage.py resync`: queue documents (and failed events) again, chosen by work item, event, dates or failure."""

from django.core.management.base import BaseCommand, CommandError

from documents.queueing import resync_run
from documents.selectors import ResyncSelection, deliveries_by_reference, resync_select

from ._operator import ProgressBar, moment, progress_arguments_add


class Command(BaseCommand):
    help = (
        "Queue the sync again for the chosen documents: failed and dead ones are retried, pending ones "
        "queued again, stored ones left alone unless --include-stored. Failed events in the selection "
        "are replayed (they record their documents again). Filters combine."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--work-item", metavar="ID_OR_NAME", help="Advance work item id, or its exact name.")
        parser.add_argument("--event", metavar="ID", help="Our event id (public id) or Advance's eventId.")
        parser.add_argument("--since", metavar="DATE", help="Documents recorded (events received) at or after this.")
        parser.add_argument("--until", metavar="DATE", help="... and before this. YYYY-MM-DD or ISO 8601.")
        parser.add_argument("--source", metavar="SLUG", help="Only this source.")
        parser.add_argument("--failed-only", action="store_true", help="Only failed and dead documents, failed events.")
        parser.add_argument(
            "--include-stored",
            action="store_true",
            help="Download stored documents again too (same keys); those retained or under a legal hold are "
            "verified instead (their bytes read and compared with the recorded SHA-256), never written.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be queued; change nothing.")
        progress_arguments_add(parser)

    def handle(self, *args, **options) -> None:
        filters = self.filters(options)
        deliveries = None
        if options["event"]:
            deliveries = deliveries_by_reference(options["event"], source=filters["source"])
            if not deliveries.exists():
                raise CommandError(f"No event {options['event']!r}.")
        selection = resync_select(
            **filters,
            deliveries=deliveries,
            include_stored=options["include_stored"],
            failed_only=options["failed_only"],
        )
        if filters["work_item"] and not selection.selected:
            raise CommandError(f"No documents of a work item {filters['work_item']!r}.")
        if options["dry_run"]:
            events, chosen, selected = len(selection.failed_events), len(selection.document_ids), selection.selected
            self.stdout.write(
                f"Would replay {events} failed event{plural(events)} "
                f"and queue {chosen} of {selected} selected document{plural(selected)} again."
            )
            return
        total = len(selection.failed_events) + len(selection.document_ids)
        bar = ProgressBar(total, label="queued", stream=self.stderr, enabled=options["progress"])
        outcome = resync_run(selection=selection, progress=bar.advance)
        bar.finish()
        self.stdout.write(self.style.SUCCESS(self.summary(selection, outcome.replayed, outcome.queued)))
        if outcome.verified:
            self.verification_report(outcome.verified)

    def verification_report(self, verified) -> None:
        """The locked documents read again instead of written, one line for each that did not verify."""
        bad = [result for result in verified if result.outcome != "verified"]
        count = len(verified)
        self.stdout.write(
            f"Verified {count - len(bad)} of {count} retained or held document{plural(count)} instead of "
            "writing them (S3 Object Lock): their stored bytes match the recorded SHA-256."
        )
        for result in bad:
            self.stdout.write(self.style.ERROR(f"  document {result.document_id}: {result.outcome}: {result.key}"))
        if bad:
            raise CommandError(f"{len(bad)} retained or held document{plural(len(bad))} did not verify.")

    @staticmethod
    def filters(options: dict) -> dict:
        """The selection's filters; a request that chooses nothing, or contradicts itself, is refused."""
        since = moment(options["since"], "--since") if options["since"] else None
        until = moment(options["until"], "--until") if options["until"] else None
        if not any([options["work_item"], options["event"], since, until, options["failed_only"]]):
            raise CommandError("Choose what to resync: --work-item, --event, --since/--until or --failed-only.")
        if options["failed_only"] and options["include_stored"]:
            raise CommandError("--failed-only and --include-stored exclude each other.")
        if since and until and since >= until:
            raise CommandError("--since must be before --until.")
        return {"work_item": options["work_item"], "since": since, "until": until, "source": options["source"]}

    @staticmethod
    def summary(selection: ResyncSelection, replayed: int, queued: int) -> str:
        message = f"Replayed {replayed} failed event{plural(replayed)}. Queued {queued} document{plural(queued)} again"
        if left := selection.selected - queued:
            stored = "stored, locked" if selection.include_stored else "stored (use --include-stored)"
            message += f"; left {left} alone ({stored} or syncing)"
        return message + "."


def plural(count: int) -> str:
    return "" if count == 1 else "s"

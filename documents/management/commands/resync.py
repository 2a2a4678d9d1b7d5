"""`manage.py resync`: queue documents (and failed events) again, chosen by work item, event, dates or failure."""

from django.core.management.base import BaseCommand, CommandError

from documents.models import Document
from documents.queueing import documents_resync
from documents.selectors import deliveries_by_reference, documents_select
from webhooks.models import Delivery
from webhooks.services import delivery_replay

from ._operator import ProgressBar, moment

BATCH = 200


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
            "--include-stored", action="store_true", help="Download stored documents again too (same keys)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be queued; change nothing.")
        parser.add_argument(
            "--progress", action="store_true", default=None, help="Show a progress bar (default: on a terminal)."
        )
        parser.add_argument("--no-progress", dest="progress", action="store_false")

    def handle(self, *args, **options) -> None:
        work_item, event, source = options["work_item"], options["event"], options["source"]
        since = moment(options["since"], "--since") if options["since"] else None
        until = moment(options["until"], "--until") if options["until"] else None
        failed_only, include_stored = options["failed_only"], options["include_stored"]
        if not any([work_item, event, since, until, failed_only]):
            raise CommandError("Choose what to resync: --work-item, --event, --since/--until or --failed-only.")
        if failed_only and include_stored:
            raise CommandError("--failed-only and --include-stored exclude each other.")
        if since and until and since >= until:
            raise CommandError("--since must be before --until.")

        deliveries = None
        if event:
            deliveries = deliveries_by_reference(event)
            if source:
                deliveries = deliveries.filter(source__slug=source)
            if not deliveries.exists():
                raise CommandError(f"No event {event!r}.")
        documents = documents_select(
            work_item=work_item, deliveries=deliveries, since=since, until=until, source=source
        )
        if work_item and not documents.exists():
            raise CommandError(f"No documents of a work item {work_item!r}.")

        # Failed events: their processing stopped, maybe before any document was recorded.
        failed_events = Delivery.objects.none()
        if not work_item:
            failed_events = (deliveries if deliveries is not None else Delivery.objects.all()).filter(
                status=Delivery.Status.FAILED
            )
            if since:
                failed_events = failed_events.filter(received_at__gte=since)
            if until:
                failed_events = failed_events.filter(received_at__lt=until)
            if source:
                failed_events = failed_events.filter(source__slug=source)
        failed_events = list(failed_events.order_by("pk").only("pk", "status"))
        # A replayed event queues its own documents again; do not queue them twice.
        documents = documents.exclude(version__delivery__in=[delivery.pk for delivery in failed_events])

        statuses = [Document.Status.FAILED, Document.Status.DEAD]
        if not failed_only:
            statuses.append(Document.Status.PENDING)
            if include_stored:
                statuses.append(Document.Status.STORED)
        chosen = list(documents.filter(status__in=statuses).values_list("pk", flat=True))
        selected = documents.count()

        if options["dry_run"]:
            self.stdout.write(
                f"Would replay {len(failed_events)} failed event{'s' if len(failed_events) != 1 else ''} "
                f"and queue {len(chosen)} of {selected} selected document{'s' if selected != 1 else ''} again."
            )
            return

        progress = ProgressBar(
            len(failed_events) + len(chosen), label="queued", stream=self.stderr, enabled=options["progress"]
        )
        replayed = 0
        for delivery in failed_events:
            replayed += delivery_replay(delivery=delivery)
            progress.advance()
        queued = 0
        for start in range(0, len(chosen), BATCH):
            batch = chosen[start : start + BATCH]
            queued += documents_resync(
                documents=Document.objects.filter(pk__in=batch), include_stored=include_stored, failed_only=failed_only
            )
            progress.advance(len(batch))
        progress.finish()

        left = selected - queued
        message = (
            f"Replayed {replayed} failed event{'s' if replayed != 1 else ''}. "
            f"Queued {queued} document{'s' if queued != 1 else ''} again"
        )
        if left:
            message += f"; left {left} alone (stored{'' if include_stored else ' (use --include-stored)'} or syncing)"
        self.stdout.write(self.style.SUCCESS(message + "."))

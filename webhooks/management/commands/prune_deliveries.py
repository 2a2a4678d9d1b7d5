"""`manage.py prune_deliveries --older-than DAYS`: delete old delivery log rows that nothing needs."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from webhooks.selectors import deliveries_prunable
from webhooks.services.pruning import deliveries_prune


class Command(BaseCommand):
    help = (
        "Delete delivery log rows received more than DAYS days ago. Kept whatever their age: events that "
        "announced a recorded work item version, events not processed yet, failed events (unless "
        "--include-failed) and events with a newer duplicate. Documents are never deleted."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--include-failed", action="store_true", help="Delete old failed events too.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, older_than: int, include_failed: bool, dry_run: bool, **options) -> None:
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 (day).")
        before = timezone.now() - timedelta(days=older_than)
        when = f"received before {before:%Y-%m-%d %H:%M}"
        if dry_run:
            count = deliveries_prunable(received_before=before, include_failed=include_failed).count()
            self.stdout.write(f"Would delete {count} delivery log row{'s' if count != 1 else ''} {when}.")
            return
        deleted = deliveries_prune(received_before=before, include_failed=include_failed)
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} delivery log row{'s' if deleted != 1 else ''} {when}.")
        )

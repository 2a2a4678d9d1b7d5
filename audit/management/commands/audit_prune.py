"""`manage.py audit_prune [--dry-run]`: the one way out of the audit log, after AUDIT_RETENTION_DAYS."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.models import AccessRecord, ChangeRecord
from audit.services import audit_prune


class Command(BaseCommand):
    help = (
        "Delete the access and change records older than AUDIT_RETENTION_DAYS days, and record that it did "
        "(a change record 'pruned'). The only deletion the audit log's trigger lets through."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, dry_run: bool, **options) -> None:
        days = settings.AUDIT_RETENTION_DAYS
        if days < 1:
            raise CommandError(f"AUDIT_RETENTION_DAYS must be at least 1 (day), not {days}.")
        before = timezone.now() - timedelta(days=days)
        when = f"made before {before:%Y-%m-%d %H:%M} (AUDIT_RETENTION_DAYS={days})"
        if dry_run:
            accesses = AccessRecord.objects.filter(at__lt=before).count()
            changes = ChangeRecord.objects.filter(at__lt=before).count()
            self.stdout.write(f"Would delete {accesses} access and {changes} change records {when}.")
            return
        accesses, changes = audit_prune(older_than=before)
        self.stdout.write(self.style.SUCCESS(f"Deleted {accesses} access and {changes} change records {when}."))

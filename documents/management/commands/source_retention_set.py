"""`manage.py source_retention_set SLUG --mode governance|compliance --days N` (or `--off`): the S3
Object Lock retention of every document stored for the source from now on."""

from django.core.management.base import BaseCommand, CommandError

from documents.retention import RetentionRefused, source_retention_set
from documents.storage import StorageUnavailable
from sources.models import Source, SourceSync


class Command(BaseCommand):
    help = (
        "Set the source's retention: every document stored for it from now on is written with S3 Object Lock in "
        "this mode until N days after it is stored (it cannot be deleted or overwritten until then). Refused, "
        "changing nothing, where storage cannot lock (local files, a bucket without Object Lock). --off stops "
        "locking new documents; those stored before keep their retention."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", metavar="SLUG")
        parser.add_argument("--mode", choices=["governance", "compliance"])
        parser.add_argument("--days", type=int, metavar="N")
        parser.add_argument("--off", action="store_true", help="No retention for documents stored from now on.")

    def handle(self, *args, slug: str, mode: str | None, days: int | None, off: bool, **options) -> None:
        if off and (mode or days is not None):
            raise CommandError("--off takes neither --mode nor --days.")
        if not off and not (mode and days is not None):
            raise CommandError("Give --mode governance|compliance and --days N, or --off.")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        source = Source.objects.filter(slug=slug).first()
        if source is None:
            raise CommandError(f"No source {slug!r}.")
        try:
            sync = source_retention_set(source=source, mode="" if off else mode, days=None if off else days)
        except (RetentionRefused, StorageUnavailable) as error:
            raise CommandError(f"Retention not set for {slug}: {error}") from None
        if not sync.retention_mode:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Retention off for {slug}: documents stored from now on are not locked "
                    "(those stored before keep their retention)."
                )
            )
            return
        label = SourceSync.RetentionMode(sync.retention_mode).label.split(":")[0]
        period = f"{sync.retention_days} day{'s' if sync.retention_days != 1 else ''}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Retention set for {slug}: {label} for {period} "
                "on every document stored from now on (those stored before keep what they were written with)."
            )
        )

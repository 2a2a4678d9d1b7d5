"""`manage.py advance_reconcile SLUG`: record and sync the completed versions no webhook announced."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import RetryableError
from documents.advance.errors import AdvanceError
from documents.reconcile import source_reconcile
from sources.models import Source

from ._operator import ProgressBar, moment, progress_arguments_add


class Command(BaseCommand):
    help = (
        "Ask Advance for the source's versions completed since its watermark (or --since) and record and "
        "sync every one whose documents are not stored; the watermark moves only over what was recorded."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The source's slug.")
        parser.add_argument("--since", metavar="DATETIME", help="Look from this time (YYYY-MM-DD or ISO 8601).")
        parser.add_argument("--dry-run", action="store_true", help="List the versions that would be recorded.")
        progress_arguments_add(parser)

    def handle(self, *args, **options) -> None:
        source = Source.objects.filter(slug=options["slug"]).first()
        if source is None:
            raise CommandError(f"No source {options['slug']!r}.")
        since = moment(options["since"], "--since") if options["since"] else None
        bar = ProgressBar(0, label="versions", stream=self.stderr, enabled=options["progress"])
        try:
            result = source_reconcile(source=source, since=since, dry_run=options["dry_run"], progress=bar.update)
        except (AdvanceError, RetryableError) as error:
            raise CommandError(f"Advance's lists could not be read: {error}") from error
        bar.finish()
        if options["dry_run"]:
            for found in result.missing:
                self.stdout.write(f"would record {found.work_item_id} / {found.version_id} ({found.completed_at})")
            self.stdout.write(
                f"{len(result.found)} versions completed since {result.since.isoformat()}, "
                f"{len(result.missing)} not stored (dry run: nothing recorded)."
            )
            return
        for found, reason in result.failed:
            self.stderr.write(f"could not record {found.work_item_id} / {found.version_id}: {reason}")
        watermark = result.watermark.isoformat() if result.watermark else "unchanged"
        self.stdout.write(
            f"{len(result.found)} versions completed since {result.since.isoformat()}, {result.recorded} recorded, "
            f"{len(result.failed)} failed; watermark {watermark}."
        )
        if result.failed:
            raise CommandError(f"{len(result.failed)} versions could not be recorded.")

"""Queue stored documents' text extraction again: after this feature arrived, or a change of extractor."""

from django.core.management.base import BaseCommand, CommandError

from documents.models import Document
from documents.search.services import documents_reindex_select, documents_text_queue
from sources.models import Source

from ._operator import ProgressBar, moment

BATCH = 500


class Command(BaseCommand):
    help = "Queue the text extraction (full-text search) of stored documents again."

    def add_arguments(self, parser):
        parser.add_argument("--source", metavar="SLUG", help="Only this source's documents.")
        parser.add_argument("--since", metavar="DATE", help="Only documents stored at or after this.")
        parser.add_argument("--failed-only", action="store_true", help="Only documents whose extraction failed.")
        parser.add_argument(
            "--progress", action="store_true", default=None, help="Show a progress bar (default: on a terminal)."
        )
        parser.add_argument("--no-progress", dest="progress", action="store_false")

    def handle(self, *args, **options):
        slug = options["source"]
        if slug and not Source.objects.filter(slug=slug).exists():
            raise CommandError(f"--source: no source {slug!r}.")
        since = moment(options["since"], "--since") if options["since"] else None
        ids = list(
            documents_reindex_select(source_slug=slug, since=since, failed_only=options["failed_only"]).values_list(
                "pk", flat=True
            )
        )
        progress = ProgressBar(len(ids), label="queued", stream=self.stderr, enabled=options["progress"])
        queued = 0
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            queued += documents_text_queue(documents=Document.objects.filter(pk__in=batch))
            progress.advance(len(batch))
        progress.finish()
        self.stdout.write(f"{queued} document(s) queued for text extraction.")

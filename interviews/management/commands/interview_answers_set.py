from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from interviews.models import AnswerProvider
from interviews.services import answer_stored_set
from sources.models import Source


class Command(BaseCommand):
    help = (
        "Store the JSON document in PATH as the answer a source gives to its InterviewLoadEvent (--load) "
        "or to the CustomInterviewEvent named NAME (--event NAME). Invalid JSON changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The source's slug.")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--load", action="store_true", help="The answer to InterviewLoadEvent.")
        which.add_argument("--event", metavar="NAME", help="The answer to the CustomInterviewEvent named NAME.")
        parser.add_argument("--file", required=True, type=Path, help="A JSON file (HotDocs answer JSON).")

    def handle(self, *args, **options) -> None:
        source = Source.objects.filter(slug=options["slug"]).first()
        if source is None:
            raise CommandError(f"No source with the slug {options['slug']!r}.")
        try:
            answer_json = options["file"].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {options['file']}: {error}") from None
        event_type = AnswerProvider.EventType.LOAD if options["load"] else AnswerProvider.EventType.CUSTOM
        try:
            provider, created = answer_stored_set(
                source=source, event_type=event_type, event_name=options["event"] or "", answer_json=answer_json
            )
        except ValidationError as error:
            raise CommandError(f"{options['file']} was not stored: {' '.join(error.messages)}") from None
        self.stdout.write(f"{'Stored' if created else 'Replaced'} the answer to {provider} of source {source.slug!r}.")

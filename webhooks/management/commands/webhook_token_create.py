from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sources.models import Source
from webhooks.services import token_issue


class Command(BaseCommand):
    help = "Issue a webhook token for a source. The key is printed once, alone on the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The source's slug.")
        parser.add_argument("name", help="What the token is for, e.g. 'production webhook'.")
        parser.add_argument("--expires-in-days", type=int, default=None, help="Default: never expires.")

    def handle(self, *args, **options) -> None:
        source = Source.objects.filter(slug=options["slug"]).first()
        if source is None:
            raise CommandError(f"No source with the slug {options['slug']!r}.")
        days = options["expires_in_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        token, key = token_issue(source=source, name=options["name"], expires_at=expires_at)
        expiry = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
        self.stdout.write(f"Token {token.name!r} for source {source.slug!r} ({expiry}). The key, shown only now:")
        self.stdout.write(key)

"""`manage.py access_audit_export [--since DATETIME] [--user USERNAME] [--source SLUG] [--format csv|jsonl]`."""

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.export import FORMATS, access_records_lines
from audit.selectors import access_records_find


def datetime_parse(value: str) -> datetime:
    """An ISO date or date and time; without a zone, in the project's time zone."""
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        parsed = datetime.combine(day, time.min)
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


class Command(BaseCommand):
    help = (
        "Write the access audit (who saw which documents, from where, with what answer) to standard "
        "output, oldest first, streamed: as CSV with a header line (the admin's export), or as one JSON "
        "object per line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", metavar="DATETIME", help="Only accesses at or after this (ISO 8601).")
        parser.add_argument("--user", metavar="USERNAME", help="Only this user's accesses.")
        parser.add_argument("--source", metavar="SLUG", help="Only accesses to this source's documents.")
        parser.add_argument("--format", choices=FORMATS, default="csv")

    def handle(self, *args, since: str | None, user: str | None, source: str | None, format: str, **options):
        try:
            moment = datetime_parse(since) if since else None
        except ValueError:
            raise CommandError(
                f"--since: not a date or time: {since!r} (e.g. 2026-01-31 or 2026-01-31T14:00Z)."
            ) from None
        records = access_records_find(since=moment, username=user, source_slug=source)
        for line in access_records_lines(records, format=format):
            self.stdout.write(line, ending="")
        self.stdout.flush()

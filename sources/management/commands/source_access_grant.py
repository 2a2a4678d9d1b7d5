from django.core.management.base import BaseCommand, CommandError

from sources.models import SourceAccess
from sources.services import SourceAccessRefused, source_access_grant

from ._access import access_arguments, access_parties


class Command(BaseCommand):
    help = (
        "Give a staff user, or a group, a level of access to one source in the admin: view, download or "
        "manage (replacing the level they had there). They need no other permission to use it."
    )

    def add_arguments(self, parser) -> None:
        access_arguments(parser)
        parser.add_argument("--level", required=True, choices=SourceAccess.Level.values)

    def handle(self, *args, **options) -> None:
        source, user, group = access_parties(options)
        try:
            change = source_access_grant(source=source, user=user, group=group, level=options["level"])
        except SourceAccessRefused as error:
            raise CommandError(str(error)) from None
        where = f"source {source.slug!r}"
        if change.before is None:
            done = f"Granted {change.after} on {where} to {change.subject}."
        elif change.changed:
            done = f"Changed the access of {change.subject} on {where}: {change.before} -> {change.after}."
        else:
            done = f"The {change.subject} has {change.after} on {where} already; nothing changed."
        self.stdout.write(done)

from django.core.management.base import BaseCommand, CommandError

from sources.services import SourceAccessRefused, source_access_revoke

from ._access import access_arguments, access_parties


class Command(BaseCommand):
    help = "Take away the access a staff user, or a group, has been granted on one source."

    def add_arguments(self, parser) -> None:
        access_arguments(parser)

    def handle(self, *args, **options) -> None:
        source, user, group = access_parties(options)
        try:
            change = source_access_revoke(source=source, user=user, group=group)
        except SourceAccessRefused as error:
            raise CommandError(str(error)) from None
        if change.before is None:
            self.stdout.write(f"The {change.subject} had no grant on source {source.slug!r}; nothing changed.")
        else:
            self.stdout.write(f"Revoked the {change.before} access of {change.subject} on source {source.slug!r}.")

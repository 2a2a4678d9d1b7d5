import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.management.errors import command_error
from sources.services import SourcePasswordNeeded, source_save

PASSWORD_VARIABLE = "ADVANCE_PRINCIPAL_PASSWORD"  # noqa: S105 - the variable's name, not a password


class Command(BaseCommand):
    help = (
        "Register a HotDocs Advance tenancy as a source. The service principal's password is read "
        f"from the environment variable {PASSWORD_VARIABLE}, never from the command line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="Short name of the source, part of every stored document's key.")
        parser.add_argument("--api-base-url", required=True, help="e.g. https://acme.hotdocsadvance.com/api/rest/v1.1")
        parser.add_argument("--auth-base-url", required=True, help="e.g. https://acme.hotdocsadvance.com/auth")
        parser.add_argument("--client-name", required=True)
        parser.add_argument("--principal-name", required=True)
        parser.add_argument("--name", default="", help="Display name (default: the slug).")
        parser.add_argument("--update", action="store_true", help="Change the source if the slug exists.")

    def handle(self, *args, **options) -> None:
        password = os.environ.get(PASSWORD_VARIABLE)
        if not password and not options["update"]:
            raise CommandError(f"Set {PASSWORD_VARIABLE} to the service principal's password.")
        try:
            source, created = source_save(
                slug=options["slug"],
                name=options["name"] or None,
                api_base_url=options["api_base_url"],
                auth_base_url=options["auth_base_url"],
                client_name=options["client_name"],
                principal_name=options["principal_name"],
                principal_password=password or None,
                update=options["update"],
            )
        except SourcePasswordNeeded as error:
            raise CommandError(f"{error} Set {PASSWORD_VARIABLE}.") from None
        except (ValueError, ValidationError) as error:
            raise command_error(error, invalid="Invalid source") from None
        self.stdout.write(f"{'Created' if created else 'Updated'} source {source.slug!r}.")

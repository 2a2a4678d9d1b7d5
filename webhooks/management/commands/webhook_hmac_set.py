import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.management.errors import command_error
from sources.models import Source
from webhooks.services import HmacSecretNeeded, source_auth_set
from webhooks.signatures import hmac_code_is_static

STATIC_CODE_WARNING = (
    "Warning: {material} signs no timestamp, so the code is static: the same request always carries the same "
    "code, and a GET (interview events, whose body is empty) carries one fixed code every time, a password in "
    "effect. Whoever sees one call can repeat it. Keep the URL on HTTPS; prefer timestamp.body or "
    "standard-webhooks if Advance signs a timestamp."
)

SECRET_VARIABLE = "ADVANCE_HMAC_SECRET"  # noqa: S105 - the variable's name


class Command(BaseCommand):
    help = (
        "Make a source authenticate by HMAC at /webhooks/advance/<SLUG>/, and set how codes are made. "
        f"A new secret is read from the environment variable {SECRET_VARIABLE}, never from the command "
        "line; the secret it replaces stays accepted until --drop-previous."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The source's slug.")
        parser.add_argument("--algorithm", choices=Source.HmacAlgorithm.values)
        parser.add_argument("--encoding", choices=Source.HmacEncoding.values)
        parser.add_argument("--signed-material", choices=Source.HmacSignedMaterial.values)
        parser.add_argument("--code-in", dest="code_location", choices=Source.HmacCodeLocation.values)
        parser.add_argument("--header", dest="header_name", help="The code's header (--code-in header).")
        parser.add_argument("--prefix", help="Removed from the code when present, e.g. 'sha256='.")
        parser.add_argument("--timestamp-header", help="For timestamp.body: the header carrying the timestamp.")
        parser.add_argument("--tolerance", dest="tolerance_seconds", type=int, help="Seconds a timestamp may be off.")
        parser.add_argument(
            "--drop-previous",
            action="store_true",
            help="Refuse the previous secret from now on (with a new secret: do not keep the one it replaces).",
        )

    def handle(self, *args, **options) -> None:
        source = Source.objects.filter(slug=options["slug"]).first()
        if source is None:
            raise CommandError(f"No source with the slug {options['slug']!r}.")
        names = ("algorithm", "encoding", "signed_material", "code_location", "header_name", "prefix")
        names = (*names, "timestamp_header", "tolerance_seconds")
        changes = {name: options[name] for name in names if options[name] is not None}
        try:
            source_auth_set(
                source=source,
                auth_method=Source.AuthMethod.HMAC,
                hmac_settings=changes,
                secret=os.environ.get(SECRET_VARIABLE) or None,
                keep_previous=not options["drop_previous"],
                drop_previous=options["drop_previous"],
            )
        except HmacSecretNeeded:
            raise CommandError(f"Set {SECRET_VARIABLE} to the secret Advance generated.") from None
        except (ValueError, ValidationError) as error:
            raise command_error(error, invalid="Invalid HMAC settings") from None
        kept = "the previous secret is still accepted" if source.hmac_previous_secret_encrypted else "one secret"
        self.stdout.write(
            f"Source {source.slug!r} authenticates by HMAC ({source.hmac_signed_material}, {source.hmac_algorithm}, "
            f"{source.hmac_encoding}); {kept}. Webhook URL path: /webhooks/advance/{source.slug}/"
        )
        if hmac_code_is_static(source.hmac_signed_material):
            self.stdout.write(STATIC_CODE_WARNING.format(material=source.hmac_signed_material))

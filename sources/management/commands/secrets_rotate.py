from django.core.management.base import BaseCommand, CommandError

from sources.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (Advance passwords, HMAC secrets) with the first key of "
        "FIELD_ENCRYPTION_KEYS. Put the new key first, keep the old ones after it, run this, then "
        "remove the old keys. Webhook token keys are stored as digests and need nothing."
    )

    def handle(self, *args, **options) -> None:
        rotated, failed = secrets_rotate()
        self.stdout.write(f"Re-encrypted {rotated} secret{'s' if rotated != 1 else ''} with the first key.")
        if failed:
            raise CommandError(
                f"No key of FIELD_ENCRYPTION_KEYS opens secrets of these sources: {', '.join(failed)}. "
                "Add the key they were encrypted with (after the first) and run this again, or set them anew."
            )

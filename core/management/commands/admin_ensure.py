import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure an admin user exists. The first time, create 'admin' with a random password "
        "printed once (DJANGO_SUPERUSER_PASSWORD sets it instead)."
    )

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin user exists already.")
            return
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "", password)
        self.stdout.write("Created the admin user.")
        # A password the operator chose is not echoed into logs; a generated one is shown this once.
        shown = "(from DJANGO_SUPERUSER_PASSWORD)" if given else password
        self.stdout.write(f"  user:     admin\n  password: {shown}")

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
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "", password)
        self.stdout.write("Created the admin user.")
        self.stdout.write(f"  user:     admin\n  password: {password}")

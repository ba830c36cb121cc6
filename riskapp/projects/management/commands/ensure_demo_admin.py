import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the demo administrator 'admin' with a random password, printed once, if no user exists. "
        "Refused when DEBUG is off unless --allow-production is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--allow-production", action="store_true")

    def handle(self, *args, username: str, allow_production: bool, **options):
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("Users exist already; no demo admin created.")
            return
        if not settings.DEBUG and not allow_production:
            raise CommandError("DEBUG is off: create an administrator with `manage.py createsuperuser` instead.")
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the demo administrator.\n  user:     {username}\n  password: {password}\n"
                "This password is shown only once: change it after signing in."
            )
        )

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhook intake"

    def ready(self) -> None:
        from . import environ

        environ.connect()

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhook intake"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from core.metrics import database_gauges_register
        from sources.models import Source

        from . import environ, metrics
        from .models import WebhookToken
        from .services import checked_tokens_forget

        environ.connect()
        database_gauges_register(metrics.events_backlog_gauges)
        # A token or source changed here (revoked, expiry moved, deactivated) counts at once.
        for model in (Source, WebhookToken):
            post_save.connect(checked_tokens_forget, sender=model, dispatch_uid=f"checked-tokens-{model.__name__}")

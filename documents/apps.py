from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from django.db.models import Q

        from core.health import readiness_check_register
        from core.metrics import database_gauges_register
        from webhooks.registry import delivery_keep_register

        from . import events, metrics, storage

        events.register()
        # A delivery that announced a recorded version is its provenance (and keeps a re-delivery a duplicate).
        delivery_keep_register(Q(versions__isnull=False))
        readiness_check_register("storage", storage.storage_check)
        database_gauges_register(metrics.documents_backlog_gauges)

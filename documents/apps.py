from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from django.db.models import Q

        from core.health import readiness_check_register
        from core.metrics import database_gauges_register
        from webhooks.registry import delivery_keep_register

        from . import events, metrics, retention, storage

        events.register()
        # A delivery that announced a recorded version is its provenance (and keeps a re-delivery a duplicate).
        delivery_keep_register(Q(versions__isnull=False))
        # Said apart, should the rule above ever narrow: a locked archive keeps its provenance.
        delivery_keep_register(
            Q(versions__work_item__legal_hold=True) | Q(versions__documents__retain_until__isnull=False)
        )
        readiness_check_register("storage", storage.storage_check)
        readiness_check_register("object_lock", retention.retention_readiness_check)
        database_gauges_register(metrics.documents_backlog_gauges)

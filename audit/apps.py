from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Who saw which documents and who changed what: an append-only log every app writes to."""

    name = "audit"
    verbose_name = "Audit"

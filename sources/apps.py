from django.apps import AppConfig


class SourcesConfig(AppConfig):
    """The Advance tenancies: their credentials, webhook authentication settings and sync settings."""

    name = "sources"
    verbose_name = "Sources"

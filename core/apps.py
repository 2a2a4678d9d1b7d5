from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, the retry policy, admin helpers, metric and readiness registries."""

    name = "core"
    verbose_name = "Core"

import os

from celery import Celery

from config.embedded import embedded_prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _embedded_prepare(sender: Celery, **kwargs) -> None:
    # A worker or beat reads its configuration (Django's settings) first of all: here, not at
    # import, since every import of config (settings included) imports this module.
    embedded_prepare()


# Every worker publishes what the intake stored (webhooks/relay.py): nothing for an operator to start.
app.steps["worker"].add("webhooks.relay:RelayStep")
# The threads pool's free slots are taken at once (config/worker_steps.py).
app.steps["worker"].add("config.worker_steps.ThreadsPoolWakeup")
# Database connections last from one task to the next (config/worker_steps.py).
app.steps["worker"].add("config.worker_steps.DatabaseConnectionsKept")

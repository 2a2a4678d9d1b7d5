import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every worker publishes what the intake stored (webhooks/relay.py): nothing for an operator to start.
app.steps["worker"].add("webhooks.relay:RelayStep")
# The threads pool's free slots are taken at once (config/worker_steps.py).
app.steps["worker"].add("config.worker_steps.ThreadsPoolWakeup")
# Database connections last from one task to the next (config/worker_steps.py).
app.steps["worker"].add("config.worker_steps.DatabaseConnectionsKept")

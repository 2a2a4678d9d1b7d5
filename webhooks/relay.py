"""The relay: publishes, from a thread of every worker, the events the intake stored.

A plain `celery -A config worker` runs it (RelayStep, added in config/celery_app.py): no process
or flag for an operator to remember. The request stores the event's row and answers; this thread
publishes the processing task of stored rows no message announced yet (webhooks.services.outbox),
in batches. Every event is then processed one way: by its task, on whichever worker takes the
intake queue, with the task's retries.

It looks every WEBHOOK_RELAY_POLL_SECONDS (a probe of a partial index), and again at once after a
full batch. PostgreSQL's LISTEN/NOTIFY was measured and refused: a NOTIFY holds a database-wide
lock until its transaction has committed, so the commits of concurrent requests would queue one
behind the other (docs/performance.md). While the broker or the database is down the relay tries
again every RETRY_SECONDS, so what was accepted meanwhile is published as soon as the broker
answers. Several workers share the work (webhooks.services.outbox claims with SKIP LOCKED).
"""

import logging
import threading
import time

from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections, connection

from .services import deliveries_publish

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class Relay:
    """Publishes stored events every poll_seconds (at once again after a full batch of `batch`)."""

    def __init__(self, *, poll_seconds: float, batch: int):
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="webhook-relay", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=self.poll_seconds + 10)

    def run(self) -> None:
        failing_since: float | None = None
        try:
            while not self.stopping.is_set():
                try:
                    close_old_connections()  # no request cycle here closes a broken or old one
                    more = deliveries_publish(limit=self.batch) == self.batch
                except Exception as error:  # the broker or the database is down: rows wait, stored
                    if failing_since is None:
                        failing_since = time.monotonic()
                        cause = f"{type(error).__name__}: {error}"
                        logger.warning("relay: cannot publish stored events, retrying (%s)", cause)
                    connection.close()
                    self.stopping.wait(RETRY_SECONDS)
                    continue
                if failing_since is not None:
                    logger.warning(
                        "relay: publishing stored events again after %.0f s", time.monotonic() - failing_since
                    )
                    failing_since = None
                if not more:
                    self.stopping.wait(self.poll_seconds)
        finally:
            connection.close()


class RelayStep(bootsteps.StartStopStep):
    """The relay inside `celery -A config worker`, started after the pool, stopped at shutdown."""

    requires = {"celery.worker.components:Pool"}

    def create(self, worker) -> Relay:
        return Relay(poll_seconds=settings.WEBHOOK_RELAY_POLL_SECONDS, batch=settings.WEBHOOK_RELAY_BATCH)

"""The relay: publishes the processing of what the intake stored, from a thread of every worker.

A plain `celery -A config worker` runs it (RelayStep, added in config/celery_app.py): no process
or flag for an operator to remember. The request stores the event's row and answers; this thread
claims stored rows in batches and publishes their messages (webhooks.services.outbox). On
PostgreSQL a trigger NOTIFYs NOTIFY_CHANNEL as a row is stored, so the relay wakes at once; it
also looks every WEBHOOK_RELAY_POLL_SECONDS (the only way on SQLite, a backstop otherwise). While
the broker or the database is down it tries again every RETRY_SECONDS, so what was accepted
meanwhile is published as soon as the broker answers again. Several workers share the work.
"""

import contextlib
import logging
import threading
import time

import psycopg
from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections, connection

from .services import deliveries_publish

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "webhooks_delivery_stored"  # the trigger of migration 0004_delivery_outbox
RETRY_SECONDS = 1.0


class Relay:
    def __init__(self, *, poll_seconds: float, batch: int):
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.listener: psycopg.Connection | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="webhook-relay", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=self.poll_seconds + 5)

    def run(self) -> None:
        failing_since: float | None = None
        try:
            while not self.stopping.is_set():
                try:
                    close_old_connections()  # no request cycle here closes a broken or old one
                    published = deliveries_publish(limit=self.batch)
                except Exception as error:  # the broker or the database is down: rows wait, stored
                    if failing_since is None:
                        failing_since = time.monotonic()
                        cause = f"{type(error).__name__}: {error}"
                        logger.warning("relay: cannot publish stored events, retrying (%s)", cause)
                    connection.close()
                    self.stopping.wait(RETRY_SECONDS)
                    continue
                if failing_since is not None:
                    logger.warning("relay: publishing again after %.0f s", time.monotonic() - failing_since)
                    failing_since = None
                if published < self.batch:
                    self.wait()
        finally:
            self.listener_close()
            connection.close()

    def wait(self) -> None:
        """Until a row is stored (PostgreSQL's notification), the poll interval, or stop()."""
        if connection.vendor != "postgresql":
            self.stopping.wait(self.poll_seconds)
            return
        try:
            if self.listener is None:
                self.listener = psycopg.connect(**connection.get_connection_params(), autocommit=True)
                self.listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # In slices of at most a second, so that stop() is heard while nothing is stored.
            deadline = time.monotonic() + self.poll_seconds
            while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
                if any(True for _ in self.listener.notifies(timeout=min(left, 1.0), stop_after=1)):
                    break
            # A burst notifies once per row: take what else arrived, then one batch serves them all.
            for _ in self.listener.notifies(timeout=0):
                pass
        except psycopg.Error as error:
            logger.warning("relay: listening failed, polling (%s)", type(error).__name__)
            self.listener_close()
            self.stopping.wait(min(self.poll_seconds, RETRY_SECONDS))

    def listener_close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(psycopg.Error):
                self.listener.close()
            self.listener = None


class RelayStep(bootsteps.StartStopStep):
    """The relay inside `celery -A config worker`, started after the pool, stopped at shutdown."""

    requires = {"celery.worker.components:Pool"}

    def create(self, worker) -> Relay:
        return Relay(poll_seconds=settings.WEBHOOK_RELAY_POLL_SECONDS, batch=settings.WEBHOOK_RELAY_BATCH)

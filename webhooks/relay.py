"""The relay: takes what the intake stored, from a thread of every worker, and processes or publishes it.

A plain `celery -A config worker` runs it (RelayStep, added in config/celery_app.py): no process
or flag for an operator to remember. The request stores the event's row and answers; this thread
claims stored rows (webhooks.services.outbox). A worker that consumes the intake queue processes
them itself, in WEBHOOK_RELAY_THREADS threads of the relay's own: no message to publish, receive
and acknowledge per event, and an event's documents are queued without waiting for a free slot
among the syncs (measured in `make bench`'s burst at 0.1 s: 0.59-0.65 to 0.67-0.75 of the
baseline). A worker that does not take the intake queue (started with `-Q` without it, or told
to stop taking it) publishes their messages for the workers that do, in batches.

It looks every WEBHOOK_RELAY_POLL_SECONDS (a probe of a partial index), and again at once after a
full batch. PostgreSQL's LISTEN/NOTIFY was measured and refused: a NOTIFY holds a database-wide
lock until its transaction has committed, so with a NOTIFY per stored event the commits of
concurrent requests queue one behind the other (pgbench, 32 clients, one INSERT each, fsync on:
3,600-4,100 commits/s without it, 310-330 with it). While the broker or the database is down the
relay tries again every RETRY_SECONDS, so what was accepted meanwhile is published as soon as the
broker answers. Several workers share the work (webhooks.services.outbox claims with SKIP LOCKED).
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections, connection

from .services import deliveries_claim, deliveries_publish, delivery_process_claimed

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class Relay:
    """Takes stored events every poll_seconds (at once again while there were more): processes them
    in `threads` threads of its own while `processes_here()` says so, else publishes up to `batch`
    of them at a time."""

    def __init__(
        self, *, poll_seconds: float, batch: int, threads: int = 0, processes_here: Callable[[], bool] = lambda: True
    ):
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.threads = threads
        self.processes_here = processes_here
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.executor: ThreadPoolExecutor | None = None
        # Events taken and not processed yet: one running and one waiting per thread, so that a
        # thread that ends one starts the next at once.
        self.room = 2 * max(threads, 1)
        self.free = threading.BoundedSemaphore(self.room)

    def start(self) -> None:
        if self.threads:
            self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook-relay-process")
        self.thread = threading.Thread(target=self.run, name="webhook-relay", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=self.poll_seconds + 10)
        if self.executor is not None:
            self.executor.shutdown(wait=True)  # what was taken is processed (the sweep, if killed)

    def run(self) -> None:
        failing_since: float | None = None
        try:
            while not self.stopping.is_set():
                try:
                    close_old_connections()  # no request cycle here closes a broken or old one
                    processing = self.executor is not None and self.processes_here()
                    more = self._process_round() if processing else self._publish_round()
                except Exception as error:  # the broker or the database is down: rows wait, stored
                    if failing_since is None:
                        failing_since = time.monotonic()
                        cause = f"{type(error).__name__}: {error}"
                        logger.warning("relay: cannot take stored events, retrying (%s)", cause)
                    connection.close()
                    self.stopping.wait(RETRY_SECONDS)
                    continue
                if failing_since is not None:
                    logger.warning("relay: taking stored events again after %.0f s", time.monotonic() - failing_since)
                    failing_since = None
                if not more:
                    self.stopping.wait(self.poll_seconds)
        finally:
            connection.close()

    def _publish_round(self) -> bool:
        return deliveries_publish(limit=self.batch) == self.batch

    def _process_round(self) -> bool:
        """Claim as many events as there is room for and hand them to the threads; True when there may be more now."""
        if not self.free.acquire(timeout=self.poll_seconds):
            return True  # no room: no event waits for the poll interval once there is
        free = 1
        while free < self.room and self.free.acquire(blocking=False):
            free += 1
        claimed: list[int] = []
        try:
            claimed = deliveries_claim(limit=free)
        finally:
            for _ in range(free - len(claimed)):
                self.free.release()
        for delivery_id in claimed:
            self.executor.submit(self._process, delivery_id)
        return len(claimed) == free

    def _process(self, delivery_id: int) -> None:
        try:
            delivery_process_claimed(delivery_id=delivery_id)
        except Exception:
            logger.exception("relay: event neither processed nor queued (the sweep will): delivery=%s", delivery_id)
        finally:
            close_old_connections()  # as after a task: a broken or old connection is not kept
            self.free.release()


class RelayStep(bootsteps.StartStopStep):
    """The relay inside `celery -A config worker`, started after the pool, stopped at shutdown."""

    requires = {"celery.worker.components:Pool"}

    def create(self, worker) -> Relay:
        def consumes_intake() -> bool:
            # Now, not as started: `-Q` may leave the intake queue out, and `celery control
            # cancel_consumer intake` pause it; the workers that do take it run what is published.
            consumer = getattr(getattr(worker, "consumer", None), "task_consumer", None)
            return consumer is not None and consumer.consuming_from("intake")

        return Relay(
            poll_seconds=settings.WEBHOOK_RELAY_POLL_SECONDS,
            batch=settings.WEBHOOK_RELAY_BATCH,
            threads=settings.WEBHOOK_RELAY_THREADS,
            processes_here=consumes_intake,
        )

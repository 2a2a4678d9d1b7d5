"""Worker bootsteps of the project's pool choice (threads, settings.CELERY_WORKER_POOL)."""

from celery import bootsteps, signals
from django.db import close_old_connections

WAKE_SECONDS = 0.05


def _wake() -> None:
    """Nothing: the timer only makes the event loop go round."""


class ThreadsPoolWakeup(bootsteps.StartStopStep):
    """Wake the worker's event loop every 50 ms when it runs the threads pool.

    A thread that ends a task frees its slot outside the event loop, and the loop asks the broker
    for the next message only when it wakes: at its next timer, up to seconds later (Celery's open
    issue #6941, "Slow task execution using -P threads"; this is the workaround given there, on
    the bootstep's public hub). Prefork's processes wake the loop through their pipes and need
    nothing of the kind. docs/performance.md has what it measured.
    """

    requires = ("celery.worker.components:Hub",)

    def include_if(self, w) -> bool:
        pool = w.pool_cls if isinstance(w.pool_cls, str) else w.pool_cls.__module__
        return w.hub is not None and "thread" in pool

    def start(self, w) -> None:
        self.timer = w.hub.call_repeatedly(WAKE_SECONDS, _wake)

    def stop(self, w) -> None:
        self.timer.cancel()


def _connections_check(**kwargs) -> None:
    # What a request's end does in the web process: drop a connection that failed or outlived
    # CONN_MAX_AGE; a kept one is health-checked (one SELECT 1) before the next task uses it.
    close_old_connections()


class DatabaseConnectionsKept(bootsteps.StartStopStep):
    """Keep each pool thread's database connection from one task to the next.

    Celery's Django fix-up closes every connection before and after each task unless
    CELERY_DB_REUSE_MAX says otherwise (config/settings/base.py): a new PostgreSQL connection
    per task, which measured as the largest cost per document in the burst bench. A thread's
    connection is now closed as Django closes a web request's: after a task that broke it, or
    once it is older than CONN_MAX_AGE. Connections stay one per pool thread (see README, Scaling).
    """

    def start(self, w) -> None:
        signals.task_postrun.connect(_connections_check, weak=False, dispatch_uid="connections-check")

    def stop(self, w) -> None:
        signals.task_postrun.disconnect(_connections_check, dispatch_uid="connections-check")

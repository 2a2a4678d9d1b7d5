"""Worker bootsteps of the project's pool choice (threads, settings.CELERY_WORKER_POOL)."""

import ctypes
import ctypes.util
import sys

from celery import bootsteps, signals
from django.db import close_old_connections

WAKE_SECONDS = 0.05
SWITCH_SECONDS = 0.001
M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
MALLOC_ARENAS = 2


def _wake() -> None:
    """Nothing: the timer only makes the event loop go round."""


class ThreadsPoolWakeup(bootsteps.StartStopStep):
    """Wake the worker's event loop every 50 ms when it runs the threads pool.

    A thread that ends a task frees its slot outside the event loop, and the loop asks the broker
    for the next message only when it wakes: at its next timer, up to seconds later. Measured in
    `make bench` (burst, downloads answered after 0.5 s): without this, 16 threads were on average
    5 busy; prefork's processes wake the loop through their pipes and need nothing of the kind.
    """

    requires = ("celery.worker.components:Hub",)

    def include_if(self, w) -> bool:
        pool = w.pool_cls if isinstance(w.pool_cls, str) else w.pool_cls.__module__
        return w.hub is not None and "thread" in pool

    def start(self, w) -> None:
        _malloc_arenas_bound()
        # A thread back from the network waits for the interpreter lock up to the switch interval
        # (5 ms) while another runs Python, and a sync makes a dozen such calls: 1 ms measured
        # 0.44-0.46 -> 0.51 of the baseline in the burst at 0.1 s (pairs run back to back).
        sys.setswitchinterval(SWITCH_SECONDS)
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


def _malloc_arenas_bound() -> None:
    """Two malloc arenas for the whole worker, before its pool threads first allocate.

    glibc gives each new thread an arena of its own up to 8 per core, and memory freed in one
    stays mapped there: 16 threads streaming large downloads kept several MiB each. What
    MALLOC_ARENA_MAX=2 does, set from here because a plain `celery -A config worker` sets no
    environment. Nothing where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except OSError:
        pass

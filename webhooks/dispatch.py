"""Publishing to the broker from a thread of the web process, off the request's path.

The request's only write is the INSERT of its delivery; publishing the task message (a broker
round trip and Celery's message building, which cost as much again) happens here. Nothing is lost
if the process dies with messages still waiting: their rows are committed, and the sweep
(webhooks.tasks.deliveries_requeue_stalled) queues them again.
"""

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Bounded: while the broker is down messages are not kept without limit; past it they are dropped
# (logged), and the sweep queues their stored rows again.
_pending: queue.Queue = queue.Queue(maxsize=10_000)
_started_in_pid: int | None = None
_start_lock = threading.Lock()


def publish_soon(publish: Callable[[], None]) -> None:
    """Run publish() in this process's publisher thread, as soon as it is free."""
    global _started_in_pid
    if _started_in_pid != os.getpid():  # after a fork (gunicorn, Celery) the thread is not there
        with _start_lock:
            if _started_in_pid != os.getpid():
                threading.Thread(target=_publisher, name="broker-publisher", daemon=True).start()
                _started_in_pid = os.getpid()
    try:
        _pending.put_nowait(publish)
    except queue.Full:
        logger.error("publisher queue full (broker down?); the sweep will queue the stored event")


def _publisher() -> None:
    while True:
        publish = _pending.get()
        try:
            publish()
        except Exception:  # the broker is down or refused: the sweep re-queues the stored row
            logger.exception("publishing failed; the sweep will queue it again")


@atexit.register
def _drain() -> None:
    """On a clean exit, send what is still waiting (bounded: never hang a shutdown)."""
    while True:
        try:
            publish = _pending.get(timeout=0.05)
        except queue.Empty:
            return
        try:
            publish()
        except Exception:
            return

"""What waits on each queue the app publishes to, and which workers consume it.

A queue that holds messages while no worker consumes it is work that will never run: a worker
started with a `-Q` that leaves a queue out, or the only worker of a queue stopped. The admin
dashboard, `sync_status` and `GET /readyz/queues` name such a queue, with its depth.
"""

import logging
import threading
import time
from dataclasses import dataclass

from celery import current_app as app  # the project's app (config.celery_app), without importing config
from kombu import Queue
from kombu.exceptions import ChannelError

logger = logging.getLogger(__name__)

# Reading the queues broadcasts to every worker and waits for their replies: a web process does it
# at most once per QUEUES_READING_SECONDS, whatever the number of pages and probes that ask.
QUEUES_READING_SECONDS = 5.0


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int  # messages waiting (not counting those a worker has taken and not acknowledged)
    consumers: tuple[str, ...]  # the workers consuming it (their node names)

    @property
    def unconsumed(self) -> bool:
        """Work waits on it and no worker listens to it."""
        return self.depth > 0 and not self.consumers


def queue_names() -> list[str]:
    return [queue.name for queue in app.conf.task_queues or []] or [app.conf.task_default_queue]


def queues_inspect(*, timeout: float = 1.0) -> list[QueueState]:
    """Every queue's depth and consumers; raises when the broker does not answer.

    Asking the workers is a broadcast that waits `timeout` seconds for their replies.
    """
    names = queue_names()
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        depths = {name: _depth(conn, name) for name in names}
    return [
        QueueState(
            name=name,
            depth=depths[name],
            consumers=tuple(
                sorted(worker for worker, queues in replies.items() if any(q.get("name") == name for q in queues or []))
            ),
        )
        for name in names
    ]


def queue_of(task_name: str) -> str:
    """The queue the task's messages are sent to, as Celery's own router decides it when they are sent."""
    return app.amqp.Router().route({}, task_name)["queue"].name


def queue_waiting(*, task_name: str) -> bool:
    """Whether messages wait in the task's queue; True when the broker cannot say (assume busy)."""
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return _depth(conn, queue_of(task_name)) > 0
    except Exception:
        logger.warning("could not read the depth of the queue of %s", task_name, exc_info=True)
        return True


def _depth(conn, name: str) -> int:
    # Passive: only asks, never creates a queue (with other arguments than the workers' own).
    with conn.channel() as channel:
        try:
            return Queue(name, channel=channel).queue_declare(passive=True).message_count
        except ChannelError:
            return 0  # never declared: nothing was ever published to it


@dataclass(frozen=True)
class QueuesReading:
    """The queues as read at one moment, or why they could not be read."""

    states: tuple[QueueState, ...]
    error: str  # "" when read, else the broker's failure (its exception's class name)
    read_at: float  # time.monotonic() of the reading

    @property
    def unconsumed(self) -> list[str]:
        return [state.name for state in self.states if state.unconsumed]


_reading: QueuesReading | None = None
_reading_lock = threading.Lock()


def queues_read() -> QueuesReading:
    """The queues' states, read at most QUEUES_READING_SECONDS ago in this process.

    Whoever asks while a reading is under way waits for it and shares its answer; a broker that
    did not answer is a reading too, so a flood of requests never becomes a flood of broadcasts.
    """
    global _reading
    with _reading_lock:
        if _reading is None or time.monotonic() - _reading.read_at >= QUEUES_READING_SECONDS:
            _reading = _queues_read_now()
        return _reading


def queues_reading_forget() -> None:
    """The next queues_read() reads afresh (for tests that change the queues)."""
    global _reading
    with _reading_lock:
        _reading = None


def _queues_read_now() -> QueuesReading:
    try:
        states = tuple(queues_inspect(timeout=1.0))
    except Exception as error:  # a reading reports every failure, whatever its kind
        logger.warning("queue check failed: %s", type(error).__name__)
        return QueuesReading(states=(), error=type(error).__name__, read_at=time.monotonic())
    reading = QueuesReading(states=states, error="", read_at=time.monotonic())
    if reading.unconsumed:
        logger.warning("work waits on queues no worker consumes: %s", ",".join(reading.unconsumed))
    return reading

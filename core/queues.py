"""What waits on each queue the app publishes to, and which workers consume it.

A queue that holds messages while no worker consumes it is work that will never run: a worker
started with a `-Q` that leaves a queue out, or the only worker of a queue stopped. The admin
dashboard, `sync_status` and `GET /readyz/queues` name such a queue, with its depth.
"""

from dataclasses import dataclass

from celery import current_app as app  # the project's app (config.celery_app), without importing config
from kombu import Queue
from kombu.exceptions import ChannelError


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


def _depth(conn, name: str) -> int:
    # Passive: only asks, never creates a queue (with other arguments than the workers' own).
    with conn.channel() as channel:
        try:
            return Queue(name, channel=channel).queue_declare(passive=True).message_count
        except ChannelError:
            return 0  # never declared: nothing was ever published to it

"""Bringing back lost work, one way for every kind: beat's sweeps.

Work is a row whose message should have been sent (an event, a document's sync, its text's
extraction, a version's status call). A message can be lost (a broker restarted without its data,
a worker killed with messages it had taken): each sweep selects the rows whose work should have
happened a while ago and has not, and queues them again through the same function that queued
them the first time (which marks them queued now). Every task is safe to run twice, so a row
queued both by its own message and by a sweep costs a second look, nothing more.

How long "a while" is depends on the work's queue. While messages wait in it, work due for less
than SWEEP_STALE_SECONDS may simply be queued behind them: queueing it again would only add to
the backlog. Once nothing waits, work due SWEEP_QUIET_SECONDS ago and not begun was lost, and is
queued again at once: lost work is back well within a minute of a fault's end.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .queues import queue_waiting

logger = logging.getLogger(__name__)

# Rows queued again per sweep: a broker down for long is caught up over a few minutes, not in
# one transaction.
SWEEP_BATCH = 1000


def stalled_requeue(
    *,
    what: str,
    stalled: Callable[[datetime, datetime], QuerySet],
    requeue: Callable[[list[int]], int],
    task_name: str,
) -> int:
    """Queue again the rows `stalled(now, cutoff)` selects (the oldest SWEEP_BATCH), through
    `requeue(ids)`, which marks them queued and sends their messages (of the task `task_name`)
    once the transaction commits. Return how many were queued."""
    now = timezone.now()
    waiting = queue_waiting(task_name=task_name)
    cutoff = now - timedelta(seconds=settings.SWEEP_STALE_SECONDS if waiting else settings.SWEEP_QUIET_SECONDS)
    with transaction.atomic():
        ids = list(stalled(now, cutoff).order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH])
        count = requeue(ids) if ids else 0
    if count:
        logger.warning("re-queued %s stalled %s", count, what)
    return count

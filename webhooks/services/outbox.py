"""The outbox: accepted events not taken yet, processed by the relays or published in batches.

The request only stores the event's row (due_at empty). The relay in every Celery worker
(webhooks.relay) takes them every WEBHOOK_RELAY_POLL_SECONDS: a worker that consumes the intake
queue processes them itself (deliveries_claim, delivery_process_claimed), another publishes
their messages (deliveries_publish).
"""

import logging

from django.db import transaction
from django.utils import timezone

from core.retry import RetryScheduled

from ..models import Delivery
from .processing import delivery_process

logger = logging.getLogger(__name__)


def deliveries_unpublished():
    return Delivery.objects.filter(status=Delivery.Status.ACCEPTED, due_at__isnull=True)


def _unpublished_lock(limit: int) -> list[int]:
    """Up to `limit` stored events not taken yet, locked until the transaction ends (other relays skip them)."""
    return list(
        deliveries_unpublished().select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:limit]
    )


def _taken_mark(ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=ids, due_at__isnull=True).update(due_at=timezone.now())


def deliveries_publish(*, limit: int) -> int:
    """Publish the processing of up to `limit` stored events no message announced yet; return
    how many. Raises when the broker or the database does not answer (nothing is marked then).

    Rows are claimed with FOR UPDATE SKIP LOCKED, so relays in several workers share the work, and
    a relay that dies leaves its rows to the next (its transaction rolls back). A row is marked
    (due_at set) in the same transaction, after its message was published: a crash in between
    publishes it twice, which processing, safe to run twice, absorbs.
    """
    if not deliveries_unpublished().exists():
        return 0
    from ..tasks import delivery_process  # the task module imports the services

    with delivery_process.app.producer_or_acquire() as producer:
        # Before any row is locked: while the broker is down, no transaction waits on it.
        producer.connection.ensure_connection(max_retries=1)
        with transaction.atomic():
            claimed = _unpublished_lock(limit)
            for delivery_id in claimed:
                delivery_process.apply_async((delivery_id,), producer=producer)
            _taken_mark(claimed)
    if claimed:
        logger.debug("published %s stored events", len(claimed))
    return len(claimed)


def deliveries_claim(*, limit: int) -> list[int]:
    """Take up to `limit` stored events for processing in this process; return their ids.

    Raises, taking nothing, while the broker does not answer: processing queues the documents'
    syncs, so events wait, stored, until it does. A taken event is marked as a published one is
    (due_at set, in the claim's transaction): should this process die before processing it, the
    sweep (deliveries_requeue_stalled) queues it once it is SWEEP_STALE_SECONDS old.
    """
    if not deliveries_unpublished().exists():
        return []
    from ..tasks import delivery_process as task  # the task module imports the services

    with task.app.producer_or_acquire() as producer, producer.channel.conn_or_acquire() as client:
        client.ping()  # a round trip: a pooled connection may be to a broker gone since
    with transaction.atomic():
        claimed = _unpublished_lock(limit)
        _taken_mark(claimed)
    return claimed


def delivery_process_claimed(*, delivery_id: int) -> None:
    """Process a claimed event here; what is left to retry goes to its task, as its message would have.

    The task then counts its retries from none: such an event gets one attempt more than
    WEBHOOK_PROCESS_MAX_RETRIES allows a published one. Raises only when even the broker fails,
    leaving the event to the sweep.
    """
    from ..tasks import delivery_process as task  # the task module imports the services

    try:
        delivery_process(delivery_id=delivery_id)
    except RetryScheduled as retry:
        # Its due time is written: the task's message comes then (the sweep, should it be lost).
        task.apply_async((delivery_id,), countdown=retry.retry_after)
    except Exception:
        # Before processing could record anything (the database failed reading the row): the
        # task tries again with its own retries.
        logger.exception("delivery processing failed in the relay; queued: delivery=%s", delivery_id)
        task.apply_async((delivery_id,))

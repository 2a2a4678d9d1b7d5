"""The outbox: accepted events no message announced yet, published in batches.

The request only stores the event's row (due_at empty). The relay in every Celery worker
(webhooks.relay) publishes their processing tasks every WEBHOOK_RELAY_POLL_SECONDS.
"""

import logging

from django.db import transaction
from django.utils import timezone

from ..models import Delivery

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

"""Pruning the delivery log."""

import logging

from ..models import Delivery
from ..selectors import deliveries_prunable

logger = logging.getLogger(__name__)


def deliveries_prune(*, received_before, include_failed: bool = False, batch_size: int = 1000) -> int:
    """Delete delivery log rows received before that time that nothing needs; return how many.

    Kept whatever their age: events another app still needs (documents keeps those that announced
    a recorded work item version: their row is the version's provenance and keeps a late
    re-delivery of the same eventId a duplicate; see registry.delivery_keep_register), events
    not processed yet, failed events unless include_failed, and events with a duplicate newer
    than the cut-off (deleting the event would take the duplicate with it). Documents, versions
    and work items are never deleted.
    """
    prunable = deliveries_prunable(received_before=received_before, include_failed=include_failed)
    deleted = 0
    while True:
        # Small batches: no long lock on the log while the intake keeps writing to it.
        ids = list(prunable.order_by("pk").values_list("pk", flat=True).distinct()[:batch_size])
        if not ids:
            break
        deleted += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)
    logger.info("deliveries pruned: count=%s received_before=%s", deleted, received_before.isoformat())
    return deleted

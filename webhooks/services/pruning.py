"""Pruning the delivery log."""

import logging
import operator
from datetime import datetime, timedelta
from functools import cache, reduce

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Delivery
from ..selectors import deliveries_prunable

logger = logging.getLogger(__name__)

# Rows deleted in one transaction: each batch holds its rows' locks only for its own short
# transaction while the intake keeps writing (docs/performance.md has the measurements).
BATCH_SIZE = 5000
# How many times a batch is read again when a call logged meanwhile refers to one of its rows.
BATCH_ATTEMPTS = 3


def deliveries_prune(*, received_before: datetime, include_failed: bool = False, batch_size: int = BATCH_SIZE) -> int:
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
    after: tuple[datetime, int] | None = None
    while True:
        batch, count = _batch_pruned(prunable, after=after, size=batch_size)
        deleted += count
        if len(batch) < batch_size:
            break
        after = batch[-1]
    logger.info("deliveries pruned: count=%s received_before=%s", deleted, received_before.isoformat())
    return deleted


def deliveries_prune_retained() -> int:
    """Prune what is older than DELIVERY_LOG_RETENTION_DAYS (beat's schedule); nothing when it is 0 (off)."""
    days = settings.DELIVERY_LOG_RETENTION_DAYS
    if days < 1:
        return 0
    return deliveries_prune(received_before=timezone.now() - timedelta(days=days))


def _batch_pruned(prunable, *, after: tuple[datetime, int] | None, size: int) -> tuple[list, int]:
    """Delete the next batch in a transaction of its own: its rows, and how many rows went.

    A call logged while the batch ran that refers to one of its rows (a re-delivery logged as the
    duplicate of an event being pruned, a refused call pointing at the event it became) makes
    the batch fail at its commit, on the foreign key. The batch is then read again: the newer row
    now keeps its event (a duplicate newer than the cut-off) or goes with it.
    """
    for _ in range(BATCH_ATTEMPTS - 1):
        try:
            return _batch_delete(prunable, after=after, size=size)
        except IntegrityError:
            logger.info("deliveries pruning: a call logged meanwhile refers to the batch; reading it again")
    return _batch_delete(prunable, after=after, size=size)


def _batch_delete(prunable, *, after: tuple[datetime, int] | None, size: int) -> tuple[list, int]:
    with transaction.atomic():
        _jit_off()
        batch = _batch_next(prunable, after=after, size=size)
        return batch, (_rows_delete([pk for _, pk in batch]) if batch else 0)


def _jit_off() -> None:
    """No JIT compilation for the rest of this transaction (PostgreSQL).

    The planner cannot see that a batch's index scan ends after a few thousand rows: its cost
    passes jit_above_cost, and compiling the plan took most of each batch's time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _batch_next(prunable, *, after: tuple[datetime, int] | None, size: int) -> list[tuple[datetime, int]]:
    """The next prunable rows in (received_at, id) order, after the last batch's last row.

    Each batch starts where the last one ended on the received_at index, so the rows kept are
    read once in a run rather than again by every batch.
    """
    if after is not None:
        at, pk = after
        # The plain bound lets the index scan start at `at`; the OR alone would be a filter.
        prunable = prunable.filter(Q(received_at__gt=at) | Q(received_at=at, pk__gt=pk), received_at__gte=at)
    return list(prunable.order_by("received_at", "pk").values_list("received_at", "pk")[:size])


def _rows_delete(ids: list[int]) -> int:
    """Delete these rows, with what the database's relations need, in one DELETE; return how many.

    What Django's delete() would do through its collector (fetch every row, then its cascades),
    done as statements: the duplicates of a deleted event go with it (on_delete=CASCADE), and
    references to a deleted row from elsewhere are emptied (on_delete=SET_NULL).
    """
    cascade, set_null = _relations()
    doomed = set(ids)
    frontier = ids
    while frontier and cascade:
        referring = reduce(operator.or_, (Q(**{f"{field.name}__in": frontier}) for field in cascade))
        referrers = Delivery.objects.filter(referring).order_by().values_list("pk", flat=True)
        frontier = [pk for pk in referrers if pk not in doomed]
        doomed.update(frontier)
    doomed_ids = sorted(doomed)
    for field in set_null:
        field.model._base_manager.filter(**{f"{field.name}__in": doomed_ids}).update(**{field.name: None})
    table = connection.ops.quote_name(Delivery._meta.db_table)
    column = connection.ops.quote_name(Delivery._meta.pk.column)
    placeholders = ", ".join(["%s"] * len(doomed_ids))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders})", doomed_ids)  # noqa: S608
        return cursor.rowcount


@cache
def _relations() -> tuple[list[models.ForeignKey], list[models.ForeignKey]]:
    """The foreign keys to Delivery: those that cascade (from Delivery itself) and those set to null.

    Any other kind (PROTECT, a cascade from another model) is refused: a new relation to the log
    has to be thought about here before rows are deleted under it.
    """
    cascade, set_null = [], []
    for relation in Delivery._meta.get_fields(include_hidden=True):
        if not (relation.is_relation and relation.auto_created and not relation.concrete):
            continue
        field = relation.field
        if relation.on_delete is models.CASCADE and field.model is Delivery:
            cascade.append(field)
        elif relation.on_delete is models.SET_NULL:
            set_null.append(field)
        elif relation.on_delete is not models.DO_NOTHING:
            raise NotImplementedError(f"pruning does not know how to delete under {field.model.__name__}.{field.name}")
    return cascade, set_null

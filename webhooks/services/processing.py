"""Processing accepted events in the workers: handlers, retries, replay and the sweep."""

import logging
import traceback
from typing import NoReturn

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework import serializers

from core.errors import PermanentError, RetryableError
from core.retry import DUE_SLACK, retry_decide
from core.sweep import stalled_requeue

from ..models import Delivery
from ..payloads import PayloadError, payload_decode, payload_validate
from ..registry import event_type_get
from .intake import delivery_enqueue_on_commit

logger = logging.getLogger(__name__)


def delivery_process(*, delivery_id: int, retries: int = 0, final_attempt: bool = False) -> None:
    """Hand an accepted event to its type's handler. Safe to run twice.

    A payload that does not validate, or a PermanentError from the handler, fails the delivery
    with its traceback. Any other error is retried as core.retry decides: recorded with the wait
    chosen as the delivery's due_at and raised as RetryScheduled, or on the final attempt failed.
    """
    delivery = Delivery.objects.select_related("source").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.ACCEPTED:
        return
    if delivery.due_at and delivery.due_at > timezone.now() + DUE_SLACK:
        return  # a stale duplicate message: this delivery waits for its own retry
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    try:
        _delivery_handle(delivery)
    except (PayloadError, serializers.ValidationError, PermanentError):
        logger.exception("delivery processing failed: delivery=%s", delivery.pk)
        _delivery_fail(delivery, traceback.format_exc())
        return
    except Exception as error:
        _delivery_retry_later(delivery, error, retries=retries, final_attempt=final_attempt)
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.ACCEPTED).update(
        status=Delivery.Status.PROCESSED, processed_at=timezone.now(), last_error=""
    )


def _delivery_handle(delivery: Delivery) -> None:
    event_type = event_type_get(delivery.event_type)
    if event_type is None:
        raise PermanentError(f"no handler registered for {delivery.event_type!r}")
    # A form body is read as intake read it; the type intake decided (maybe from the URL) wins.
    payload = payload_decode(bytes(delivery.raw_body), (delivery.headers or {}).get("Content-Type", ""))
    validated = payload_validate(event_type.serializer_class, {**payload, "eventtype": delivery.event_type})
    event_type.process(delivery=delivery, payload=validated)


def _delivery_retry_later(delivery: Delivery, error: Exception, *, retries: int, final_attempt: bool) -> NoReturn:
    """Write down when the event is tried again and raise RetryScheduled; on the final attempt, fail
    it with the traceback and raise the error (retried, then failed with its reason, never looping)."""
    if not isinstance(error, RetryableError):
        logger.exception("unexpected error processing delivery=%s", delivery.pk)
    retry = retry_decide(error=error, retries=retries, final_attempt=final_attempt)
    if retry.countdown is None:
        _delivery_fail(delivery, traceback.format_exc())
        raise retry.error from None
    Delivery.objects.filter(pk=delivery.pk).update(last_error=str(retry.error), due_at=retry.due_at)
    logger.warning(
        "delivery processing will be retried in %.0fs: delivery=%s error=%s", retry.countdown, delivery.pk, retry.error
    )
    raise retry.scheduled() from error


def _delivery_fail(delivery: Delivery, error: str) -> None:
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.ACCEPTED).update(
        status=Delivery.Status.FAILED, processed_at=timezone.now(), last_error=error
    )


def delivery_replay(*, delivery: Delivery) -> bool:
    """Process an event again (a failed or processed one); return False for a row that is not an event."""
    if delivery.status not in (Delivery.Status.PROCESSED, Delivery.Status.FAILED):
        return False
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.ACCEPTED, processed_at=None, due_at=timezone.now()
        )
        delivery_enqueue_on_commit(delivery_id=delivery.pk)
    logger.info("delivery replayed: delivery=%s", delivery.pk)
    return True


def deliveries_requeue_stalled() -> int:
    """Queue again the accepted events whose processing was due long ago and has not happened: a
    message lost (a broker restarted without its data), or stored events no relay published for
    that long (webhooks.relay publishes them as they are stored, in every worker). Events waiting
    for a retry are not due yet and are left alone."""

    def stalled(now, cutoff):
        return Delivery.objects.filter(status=Delivery.Status.ACCEPTED).filter(
            Q(due_at__lt=cutoff) | Q(due_at__isnull=True, received_at__lt=cutoff)
        )

    def requeue(ids: list[int]) -> int:
        Delivery.objects.filter(pk__in=ids).update(due_at=timezone.now())
        for delivery_id in ids:
            delivery_enqueue_on_commit(delivery_id=delivery_id)
        return len(ids)

    return stalled_requeue(
        what="deliveries", stalled=stalled, requeue=requeue, task_name="webhooks.tasks.delivery_process"
    )

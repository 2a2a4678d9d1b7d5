"""The sweep queues again what was stored but never progressed, and nothing that waits for a retry."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import Delivery
from webhooks.services import deliveries_requeue_stalled, delivery_process

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "eventId": "e-sweep",
    "eventType": "NewWorkItemVersionComplete",
    "data": {"workItemId": "w1", "workItemVersionId": "v1", "documents": []},
}


def delivery(source, *, received_ago: timedelta, due_in: timedelta | None) -> Delivery:
    now = timezone.now()
    return Delivery.objects.create(
        source=source,
        event_id="e-sweep",
        event_type="NewWorkItemVersionComplete",
        status=Delivery.Status.ACCEPTED,
        http_status=202,
        raw_body=json.dumps(PAYLOAD).encode(),
        received_at=now - received_ago,
        due_at=None if due_in is None else now + due_in,
    )


def test_an_event_due_long_ago_is_queued_again(source, frozen_now):
    stalled = delivery(source, received_ago=timedelta(minutes=10), due_in=-timedelta(minutes=5))

    assert deliveries_requeue_stalled() == 1
    stalled.refresh_from_db()
    assert stalled.due_at == frozen_now  # not again before it is stale


def test_an_event_waiting_for_its_retry_is_left_alone(source):
    delivery(source, received_ago=timedelta(minutes=10), due_in=timedelta(minutes=3))

    assert deliveries_requeue_stalled() == 0


def test_a_stale_duplicate_message_does_not_run_an_event_before_it_is_due(source):
    waiting = delivery(source, received_ago=timedelta(minutes=10), due_in=timedelta(minutes=3))

    delivery_process(delivery_id=waiting.pk)

    waiting.refresh_from_db()
    assert (waiting.attempts, waiting.status) == (0, Delivery.Status.ACCEPTED)

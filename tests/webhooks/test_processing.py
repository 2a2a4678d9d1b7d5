"""How a handler's failure ends: a PermanentError fails the event at once with its message; any
other error (an accidental ValueError is a bug, not a refusal) is retried, then failed with its type."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import PermanentError, RetryableError
from webhooks import registry
from webhooks.models import Delivery
from webhooks.payloads import EnvelopeSerializer
from webhooks.registry import EventType, event_type_register
from webhooks.services import delivery_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler_raises(monkeypatch) -> list[Exception]:
    """An event type "FailingEvent" whose handler raises the exception the test appends."""
    raised: list[Exception] = []

    def process(*, delivery, payload) -> None:
        raise raised[0]

    monkeypatch.setattr(registry, "_event_types", dict(registry._event_types))  # restored after the test
    event_type_register(EventType(name="FailingEvent", serializer_class=EnvelopeSerializer, process=process))
    return raised


def failing_delivery(source) -> Delivery:
    body = {"eventId": "e-failing", "eventType": "FailingEvent"}
    return Delivery.objects.create(
        source=source,
        event_id="e-failing",
        event_type="FailingEvent",
        status=Delivery.Status.ACCEPTED,
        http_status=202,
        raw_body=json.dumps(body).encode(),
    )


def test_a_handler_raising_a_plain_value_error_is_retried_not_failed(source, handler_raises, frozen_now, settings):
    handler_raises.append(ValueError("an accident in the handler"))
    delivery = failing_delivery(source)

    with pytest.raises(RetryableError) as raised:
        delivery_process(delivery_id=delivery.pk, retries=0, final_attempt=False)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.ACCEPTED, 1)
    assert delivery.last_error == "ValueError: an accident in the handler"
    # It waits for its retry: the first backoff, jittered between half of and all of the base (core.retry).
    assert settings.RETRY_BACKOFF_BASE_SECONDS / 2 <= raised.value.retry_after <= settings.RETRY_BACKOFF_BASE_SECONDS
    assert delivery.due_at == frozen_now + timedelta(seconds=raised.value.retry_after)


def test_a_handler_raising_permanent_error_fails_the_event_at_once_with_its_message(source, handler_raises):
    handler_raises.append(PermanentError("the payload names a template this tenancy does not have"))
    delivery = failing_delivery(source)

    delivery_process(delivery_id=delivery.pk, retries=0, final_attempt=False)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 1)
    assert "PermanentError: the payload names a template this tenancy does not have" in delivery.last_error


def test_an_unexpected_error_fails_with_its_type_once_the_retries_run_out(source, handler_raises):
    handler_raises.append(KeyError("templateId"))
    delivery = failing_delivery(source)

    with pytest.raises(RetryableError):
        delivery_process(delivery_id=delivery.pk, retries=0, final_attempt=False)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.ACCEPTED
    Delivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now() - timedelta(seconds=1))  # its retry is due

    with pytest.raises(RetryableError):  # the task wrapper lets the final attempt's error go
        delivery_process(delivery_id=delivery.pk, retries=8, final_attempt=True)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 2)
    assert "KeyError: 'templateId'" in delivery.last_error

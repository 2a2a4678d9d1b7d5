"""The relay publishes what the intake stored, in batches, and loses nothing (webhooks/relay.py)."""

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.support.waiting import wait_for
from webhooks.models import Delivery
from webhooks.relay import Relay
from webhooks.services import deliveries_claim, deliveries_publish, delivery_process_claimed

PAYLOAD = {"eventType": "NewWorkItemVersionComplete", "data": {"workItemId": "w", "workItemVersionId": "v"}}


def stored(source, count: int) -> list[Delivery]:
    """Events as the intake stores them: accepted, no message published yet (due_at empty)."""
    return [
        Delivery.objects.create(
            source=source,
            event_id=f"e-{n}",
            event_type="NewWorkItemVersionComplete",
            status=Delivery.Status.ACCEPTED,
            http_status=202,
            raw_body=json.dumps({**PAYLOAD, "eventId": f"e-{n}"}).encode(),
        )
        for n in range(count)
    ]


def unpublished() -> set[int]:
    return set(Delivery.objects.filter(due_at__isnull=True).values_list("pk", flat=True))


@pytest.mark.django_db
def test_stored_events_are_published_in_batches_and_marked_once_published(source):
    deliveries = stored(source, 5)

    assert deliveries_publish(limit=3) == 3
    assert len(unpublished()) == 2
    assert deliveries_publish(limit=3) == 2
    assert deliveries_publish(limit=3) == 0
    assert unpublished() == set()
    assert {d.status for d in Delivery.objects.filter(pk__in=[d.pk for d in deliveries])} == {Delivery.Status.ACCEPTED}


@pytest.mark.django_db(transaction=True)
def test_rows_a_relay_holds_are_skipped_and_left_to_the_next_when_it_dies(source):
    deliveries = stored(source, 4)
    held = {deliveries[0].pk, deliveries[1].pk}
    holding, release = threading.Event(), threading.Event()

    def dying_relay() -> None:
        # Another relay mid-batch: it holds its rows' locks, then dies without marking them.
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk__in=held))
                holding.set()
                release.wait(10)
                raise RuntimeError("the relay died")
        except RuntimeError:
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=dying_relay)
    thread.start()
    try:
        assert holding.wait(10)
        # The other two, without waiting for the held ones (the session's worker, when one runs,
        # has a relay of its own that may publish them first: either way they are published).
        assert deliveries_publish(limit=10) in (0, 1, 2)
        wait_for(lambda: unpublished() == held, timeout=5, message="the rows not held to be published")
    finally:
        release.set()
        thread.join()

    deliveries_publish(limit=10)
    wait_for(lambda: unpublished() == set(), timeout=5, message="the rows the dead relay held to be published")


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_what_is_stored_within_its_poll_interval_and_stops_promptly(source):
    relay = Relay(poll_seconds=0.2, batch=100)
    relay.start()
    try:
        stored(source, 3)
        wait_for(lambda: not unpublished(), timeout=5, message="the relay to publish the stored events")
    finally:
        started = time.monotonic()
        relay.stop()
    assert time.monotonic() - started < 2
    assert relay.thread is not None and not relay.thread.is_alive()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_what_the_relay_marks_published_reaches_the_broker_and_the_worker_processes_it(source, celery_worker):
    deliveries = stored(source, 3)

    # Whichever relay claims them (this one, or the worker's own), each is published, not only marked.
    deliveries_publish(limit=10)
    wait_for(lambda: not unpublished(), timeout=10, message="the stored events to be published")

    def taken() -> bool:
        # The worker counts an attempt for each message it receives, then decides (processed or failed).
        rows = Delivery.objects.filter(pk__in=[d.pk for d in deliveries])
        return not rows.filter(attempts=0).exists() and not rows.filter(status=Delivery.Status.ACCEPTED).exists()

    wait_for(taken, timeout=60, interval=0.2, message="the worker to receive every published event")


@pytest.fixture
def handled(monkeypatch) -> list[int]:
    """An event type "RecordedEvent" whose handler notes each delivery it processes, in this process."""
    from webhooks import registry
    from webhooks.payloads import EnvelopeSerializer
    from webhooks.registry import EventType, event_type_register

    processed: list[int] = []
    monkeypatch.setattr(registry, "_event_types", dict(registry._event_types))  # restored after the test
    event_type_register(
        EventType(
            name="RecordedEvent",
            serializer_class=EnvelopeSerializer,
            process=lambda *, delivery, payload: processed.append(delivery.pk),
        )
    )
    return processed


def recorded(source, count: int, event_type: str = "RecordedEvent") -> list[Delivery]:
    return [
        Delivery.objects.create(
            source=source,
            event_id=f"r-{n}",
            event_type=event_type,
            status=Delivery.Status.ACCEPTED,
            http_status=202,
            raw_body=json.dumps({"eventId": f"r-{n}", "eventType": event_type}).encode(),
        )
        for n in range(count)
    ]


@pytest.mark.django_db
def test_events_claimed_for_processing_here_are_marked_taken_a_batch_at_a_time(source):
    deliveries = recorded(source, 5)

    first = deliveries_claim(limit=3)
    assert first == [d.pk for d in deliveries[:3]]
    assert unpublished() == {d.pk for d in deliveries[3:]}  # taken ones are marked, as published ones
    assert deliveries_claim(limit=3) == [d.pk for d in deliveries[3:]]
    assert deliveries_claim(limit=3) == []


@pytest.mark.django_db
def test_a_claimed_event_is_processed_here_and_one_that_fails_for_good_fails_here_with_nothing_queued(
    source, handled, monkeypatch
):
    queued: list[tuple] = []
    monkeypatch.setattr(
        "webhooks.tasks.delivery_process.apply_async", lambda args, **options: queued.append((args, options))
    )
    ok, failing = recorded(source, 2)
    Delivery.objects.filter(pk=failing.pk).update(raw_body=b"{not json")

    delivery_process_claimed(delivery_id=ok.pk)
    assert handled == [ok.pk] and queued == []
    assert Delivery.objects.get(pk=ok.pk).status == Delivery.Status.PROCESSED

    # A body that does not decode fails for good, here, as in the task: nothing to queue.
    delivery_process_claimed(delivery_id=failing.pk)
    assert queued == [] and Delivery.objects.get(pk=failing.pk).status == Delivery.Status.FAILED


@pytest.mark.django_db
def test_an_event_left_to_retry_after_processing_here_is_queued_for_when_it_is_due(source, monkeypatch):
    from webhooks import registry
    from webhooks.payloads import EnvelopeSerializer
    from webhooks.registry import EventType, event_type_register

    def process(*, delivery, payload) -> None:
        raise ValueError("an accident in the handler")

    monkeypatch.setattr(registry, "_event_types", dict(registry._event_types))
    event_type_register(EventType(name="RecordedEvent", serializer_class=EnvelopeSerializer, process=process))
    queued: list[tuple] = []
    monkeypatch.setattr(
        "webhooks.tasks.delivery_process.apply_async", lambda args, **options: queued.append((args, options))
    )
    (delivery,) = recorded(source, 1)

    delivery_process_claimed(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        Delivery.Status.ACCEPTED,
        1,
        "ValueError: an accident in the handler",
    )
    [(args, options)] = queued
    assert args == (delivery.pk,)
    wait = (delivery.due_at - timezone.now()).total_seconds()
    assert options["countdown"] > 0 and abs(options["countdown"] - wait) < 5  # the task comes when it is due


@pytest.mark.django_db(transaction=True)
def test_a_relay_with_threads_processes_what_is_stored_and_stops_promptly(source, handled):
    deliveries = recorded(source, 6)
    relay = Relay(poll_seconds=0.2, batch=100, threads=2)
    relay.start()
    try:
        # Processed here, or by the session's worker when one runs (whose relay lacks this test's
        # handler, and fails them): either way each is taken, and processed once.
        wait_for(
            lambda: not Delivery.objects.filter(pk__in=[d.pk for d in deliveries], attempts=0).exists(),
            timeout=10,
            message="the stored events to be processed",
        )
    finally:
        started = time.monotonic()
        relay.stop()
    assert time.monotonic() - started < 2
    assert not relay.thread.is_alive()
    assert sorted(handled) == sorted(set(handled))
    mine = Delivery.objects.filter(pk__in=handled)
    assert {d.status for d in mine} <= {Delivery.Status.PROCESSED} and mine.count() == len(handled)


def test_a_worker_processes_events_only_while_it_takes_the_intake_queue(settings):
    from types import SimpleNamespace

    from webhooks.relay import RelayStep

    consumed = ["intake", "documents", "default", "search"]
    task_consumer = SimpleNamespace(consuming_from=lambda name: name in consumed)
    worker = SimpleNamespace()  # the consumer comes once the worker has connected
    settings.WEBHOOK_RELAY_THREADS = 3
    relay = RelayStep.__new__(RelayStep).create(worker)  # create() reads nothing of the step itself

    assert relay.threads == 3 and relay.processes_here() is False
    worker.consumer = SimpleNamespace(task_consumer=task_consumer)
    assert relay.processes_here() is True
    consumed.remove("intake")  # `-Q documents,...`, or `celery control cancel_consumer intake`
    assert relay.processes_here() is False

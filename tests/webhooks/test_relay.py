"""The relay publishes what the intake stored, in batches, and loses nothing (webhooks/relay.py)."""

import json
import threading
import time

import pytest
from django.db import connection, transaction

from tests.support.processes import WorkerProcess, queue_depth
from tests.support.waiting import wait_for
from webhooks.models import Delivery
from webhooks.relay import Relay
from webhooks.services import deliveries_publish

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
        # The other two, without waiting for the held ones.
        assert deliveries_publish(limit=10) == 2
        assert unpublished() == held
    finally:
        release.set()
        thread.join()

    assert deliveries_publish(limit=10) == 2
    assert unpublished() == set()


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


@pytest.fixture
def worker_later(tmp_path):
    """start(): a `celery -A config worker` of this test's own, started when the test says."""
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(connection.settings_dict["NAME"], tmp_path / "worker.log")
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_what_the_relay_marks_published_reaches_the_broker_and_the_worker_processes_it(source, advance, worker_later):
    # Processing these events lists their documents from the source's (simulated) Advance.
    deliveries = stored(source, 3)

    # No worker runs yet, so no relay but this one: it publishes all three, and they wait in the broker.
    assert deliveries_publish(limit=10) == 3
    assert unpublished() == set()
    assert queue_depth("intake") == 3
    worker_later()

    def taken() -> bool:
        # The worker counts an attempt for each message it receives, then decides (processed or failed).
        rows = Delivery.objects.filter(pk__in=[d.pk for d in deliveries])
        return not rows.filter(attempts=0).exists() and not rows.filter(status=Delivery.Status.ACCEPTED).exists()

    wait_for(taken, timeout=60, message="the worker to receive every published event")

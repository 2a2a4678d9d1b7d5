"""The one sweep (core/sweep.py): what has stalled is queued again, once, through the function
given: after SWEEP_QUIET_SECONDS when nothing waits in its queue, after SWEEP_STALE_SECONDS while
messages do; nothing is queued when nothing has stalled."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from kombu import Queue

from config.celery_app import app
from core.queues import queue_of
from core.sweep import stalled_requeue
from webhooks.models import Delivery

PROBE_TASK = "tests.sweep_probe"


@pytest.fixture
def probe_queue(settings) -> Iterator[Queue]:
    """A queue of the real broker that only PROBE_TASK is routed to, and no worker consumes."""
    queue = Queue("sweep-probe")
    settings.CELERY_TASK_ROUTES = {**settings.CELERY_TASK_ROUTES, PROBE_TASK: {"queue": queue.name}}
    app.amqp.flush_routes()  # Celery reads Django's settings, and keeps the routes it prepared
    try:
        assert queue_of(PROBE_TASK) == queue.name
        with app.connection_for_write() as conn:
            bound = queue(conn.default_channel)
            bound.declare()
            bound.purge()
            yield bound
            bound.delete()
    finally:
        settings.CELERY_TASK_ROUTES = {
            name: route for name, route in settings.CELERY_TASK_ROUTES.items() if name != PROBE_TASK
        }
        app.amqp.flush_routes()


def message_waiting(queue: Queue) -> None:
    with app.producer_or_acquire() as producer:
        producer.publish({"probe": True}, routing_key=queue.name, declare=[queue])


def delivery(source, n: int, *, received_ago: float) -> Delivery:
    row = Delivery.objects.create(
        source=source, event_id=f"s-{n}", status=Delivery.Status.ACCEPTED, http_status=202, raw_body=b"{}"
    )
    Delivery.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(seconds=received_ago))
    return row


@pytest.mark.django_db(transaction=True)
def test_rows_stalled_longer_than_the_cutoff_are_requeued_once_after_commit(source, settings, probe_queue):
    settings.SWEEP_QUIET_SECONDS = 60
    old, fresh = delivery(source, 1, received_ago=120), delivery(source, 2, received_ago=5)
    calls: list[list[int]] = []
    committed: list[bool] = []

    def requeue(ids: list[int]) -> int:
        calls.append(ids)
        transaction.on_commit(lambda: committed.append(True))
        return len(ids)

    def stalled(now, cutoff):
        return Delivery.objects.filter(received_at__lt=cutoff)

    assert stalled_requeue(what="deliveries", stalled=stalled, requeue=requeue, task_name=PROBE_TASK) == 1
    assert calls == [[old.pk]] and committed == [True]
    assert fresh.pk not in calls[0]


@pytest.mark.django_db
def test_while_messages_wait_in_its_queue_only_work_stalled_past_the_stale_time_is_queued_again(
    source, settings, probe_queue
):
    settings.SWEEP_QUIET_SECONDS, settings.SWEEP_STALE_SECONDS = 20, 120
    behind = delivery(source, 1, received_ago=60)  # lost, or only queued behind what waits
    lost = delivery(source, 2, received_ago=180)
    requeued: list[list[int]] = []

    def sweep() -> int:
        return stalled_requeue(
            what="deliveries",
            stalled=lambda now, cutoff: Delivery.objects.filter(received_at__lt=cutoff),
            requeue=lambda ids: requeued.append(ids) or len(ids),
            task_name=PROBE_TASK,
        )

    message_waiting(probe_queue)
    assert (sweep(), requeued) == (1, [[lost.pk]])

    probe_queue.purge()  # nothing waits: what was due 20 s ago and not begun was lost
    assert (sweep(), requeued[1:]) == (2, [[behind.pk, lost.pk]])


@pytest.mark.django_db
def test_nothing_stalled_calls_nothing(source):
    called: list[list[int]] = []

    count = stalled_requeue(
        what="deliveries",
        stalled=lambda now, cutoff: Delivery.objects.none(),
        requeue=called.append,
        task_name=PROBE_TASK,
    )

    assert count == 0 and called == []


def test_each_sweeps_work_goes_to_the_queue_its_task_is_routed_to():
    assert [
        queue_of(name)
        for name in (
            "webhooks.tasks.delivery_process",
            "documents.tasks.document_sync",
            "documents.search.tasks.document_text_extract",
            "documents.tasks.version_post_processing_complete",
        )
    ] == ["intake", "documents", "search", "default"]

"""Pruning the delivery log in batches: every prunable row goes, whatever the batches' edges, and
what the log's relations need is done (a deleted event's duplicates go with it, references to a
deleted row are emptied)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import delivery_make
from webhooks.models import Delivery
from webhooks.services.pruning import deliveries_prune, deliveries_prune_retained
from webhooks.tasks import deliveries_prune as deliveries_prune_task

pytestmark = pytest.mark.django_db

OLD = timedelta(days=40)


def cut_off():
    return timezone.now() - timedelta(days=30)


def remaining() -> set[int]:
    return set(Delivery.objects.values_list("pk", flat=True))


def test_rows_received_at_the_same_moment_across_a_batch_edge_are_all_deleted(source):
    moment = timezone.now() - OLD
    rows = [delivery_make(source, status=Delivery.Status.REJECTED, event_id=f"r{n}").pk for n in range(5)]
    Delivery.objects.filter(pk__in=rows).update(received_at=moment)  # one timestamp: the id decides

    deleted = deliveries_prune(received_before=cut_off(), batch_size=2)

    assert deleted == 5
    assert remaining() == set()


def test_a_run_of_kept_rows_longer_than_a_batch_does_not_end_the_run(source):
    kept = [delivery_make(source, status=Delivery.Status.FAILED, event_id=f"f{n}", age=OLD + timedelta(hours=1)).pk
            for n in range(5)]  # fmt: skip
    prunable = [delivery_make(source, status=Delivery.Status.REJECTED, event_id=f"r{n}", age=OLD).pk for n in range(3)]

    deleted = deliveries_prune(received_before=cut_off(), batch_size=2)

    assert deleted == len(prunable)
    assert remaining() == set(kept)


def test_as_many_prunable_rows_as_whole_batches_are_all_deleted(source):
    for n in range(4):
        delivery_make(source, status=Delivery.Status.REJECTED, event_id=f"r{n}", age=OLD)
    recent = delivery_make(source, status=Delivery.Status.REJECTED, event_id="new", age=timedelta(days=1))

    assert deliveries_prune(received_before=cut_off(), batch_size=2) == 4
    assert remaining() == {recent.pk}


def test_a_row_received_at_the_cut_off_is_kept(source):
    before = cut_off()
    at = delivery_make(source, status=Delivery.Status.REJECTED, event_id="at")
    Delivery.objects.filter(pk=at.pk).update(received_at=before)
    delivery_make(source, status=Delivery.Status.REJECTED, event_id="older", age=OLD)

    assert deliveries_prune(received_before=before) == 1
    assert remaining() == {at.pk}


def test_an_event_deleted_in_one_batch_takes_its_old_duplicates_of_later_batches_with_it(source):
    event = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="e", age=OLD + timedelta(hours=2))
    for n in range(3):  # later than the batch of two that holds the event
        delivery_make(source, status=Delivery.Status.REJECTED, event_id=f"r{n}", age=OLD + timedelta(hours=1))
    for _ in range(2):
        delivery_make(source, status=Delivery.Status.DUPLICATE, event_id="e", duplicate_of=event, age=OLD)

    deleted = deliveries_prune(received_before=cut_off(), batch_size=2)

    assert deleted == 6
    assert remaining() == set()


def test_a_kept_call_that_was_accepted_as_a_pruned_row_only_loses_the_reference(source):
    became = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="e", age=OLD)
    refused = delivery_make(
        source, status=Delivery.Status.REJECTED, event_id="e", accepted_as=became, age=timedelta(days=1)
    )

    assert deliveries_prune(received_before=cut_off()) == 1
    assert remaining() == {refused.pk}
    refused.refresh_from_db()
    assert refused.accepted_as_id is None


@pytest.mark.django_db(transaction=True)
def test_a_re_delivery_logged_while_its_event_is_pruned_keeps_the_event(source):
    # The call is logged (and committed) from a connection of its own after the batch chose its
    # rows and before it deletes them: the batch fails on the foreign key and is read again.
    import threading

    from django.db import connection, connections

    event = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="e", age=OLD)
    refused = delivery_make(source, status=Delivery.Status.REJECTED, event_id="r", age=OLD)
    logged = []

    def re_delivery() -> None:
        logged.append(delivery_make(source, status=Delivery.Status.DUPLICATE, event_id="e", duplicate_of=event))
        connections["default"].close()

    def logged_before_the_delete(execute, sql, params, many, context):
        if not logged and sql.startswith("DELETE FROM"):
            thread = threading.Thread(target=re_delivery)
            thread.start()
            thread.join()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(logged_before_the_delete):
        deleted = deliveries_prune(received_before=cut_off())

    assert deleted == 1
    assert remaining() == {event.pk, logged[0].pk}
    assert not Delivery.objects.filter(pk=refused.pk).exists()


def test_a_second_run_finds_nothing_left(source):
    for n in range(3):
        delivery_make(source, status=Delivery.Status.REJECTED, event_id=f"r{n}", age=OLD)

    assert deliveries_prune(received_before=cut_off(), batch_size=2) == 3
    assert deliveries_prune(received_before=cut_off(), batch_size=2) == 0


# On a schedule ------------------------------------------------------------------------------


def test_the_scheduled_pruning_deletes_nothing_unless_a_retention_is_set(settings, source):
    settings.DELIVERY_LOG_RETENTION_DAYS = 0
    old = delivery_make(source, status=Delivery.Status.REJECTED, event_id="r", age=timedelta(days=4000))

    assert deliveries_prune_task() == 0
    assert remaining() == {old.pk}


def test_the_scheduled_pruning_deletes_what_is_older_than_the_retention(settings, source):
    settings.DELIVERY_LOG_RETENTION_DAYS = 30
    delivery_make(source, status=Delivery.Status.REJECTED, event_id="r", age=OLD)
    failed = delivery_make(source, status=Delivery.Status.FAILED, event_id="f", age=OLD)
    recent = delivery_make(source, status=Delivery.Status.REJECTED, event_id="n", age=timedelta(days=29))

    assert deliveries_prune_retained() == 1
    assert remaining() == {failed.pk, recent.pk}

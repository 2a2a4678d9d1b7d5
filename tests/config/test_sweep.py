"""The one sweep (core/sweep.py): what has stalled for SWEEP_STALE_SECONDS is queued again, once,
through the function given; nothing is queued when nothing has stalled."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.sweep import stalled_requeue
from webhooks.models import Delivery


def delivery(source, n: int, *, received_ago: float) -> Delivery:
    row = Delivery.objects.create(
        source=source, event_id=f"s-{n}", status=Delivery.Status.ACCEPTED, http_status=202, raw_body=b"{}"
    )
    Delivery.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(seconds=received_ago))
    return row


@pytest.mark.django_db(transaction=True)
def test_rows_stalled_longer_than_the_cutoff_are_requeued_once_after_commit(source, settings):
    settings.SWEEP_STALE_SECONDS = 60
    old, fresh = delivery(source, 1, received_ago=120), delivery(source, 2, received_ago=5)
    calls: list[list[int]] = []
    committed: list[bool] = []

    def requeue(ids: list[int]) -> int:
        calls.append(ids)
        transaction.on_commit(lambda: committed.append(True))
        return len(ids)

    def stalled(now, cutoff):
        return Delivery.objects.filter(received_at__lt=cutoff)

    assert stalled_requeue(what="deliveries", stalled=stalled, requeue=requeue) == 1
    assert calls == [[old.pk]] and committed == [True]
    assert fresh.pk not in calls[0]


@pytest.mark.django_db
def test_nothing_stalled_calls_nothing(source):
    called: list[list[int]] = []

    count = stalled_requeue(
        what="deliveries", stalled=lambda now, cutoff: Delivery.objects.none(), requeue=called.append
    )

    assert count == 0 and called == []

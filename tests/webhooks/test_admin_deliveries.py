"""The delivery log's "Replay failed since…": a page that asks for a time, shows what failed since, replays it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from tests.factories import delivery_make
from webhooks.models import Delivery

REPLAY_URL = "admin:webhooks_delivery_replay_failed"
pytestmark = pytest.mark.django_db


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def history(source) -> dict[str, Delivery]:
    return {
        "old_failure": delivery_make(source, status=Delivery.Status.FAILED, event_id="old", age=timedelta(days=3)),
        "failure": delivery_make(source, status=Delivery.Status.FAILED, event_id="new", age=timedelta(hours=2)),
        "failure2": delivery_make(source, status=Delivery.Status.FAILED, event_id="new2", age=timedelta(hours=1)),
        "processed": delivery_make(source, status=Delivery.Status.PROCESSED, event_id="ok", age=timedelta(hours=1)),
        "rejected": delivery_make(source, status=Delivery.Status.REJECTED, event_id="bad", age=timedelta(hours=1)),
    }


def test_the_action_without_a_selection_opens_the_page_that_asks_for_a_time(admin_client, history):
    response = admin_client.post(reverse("admin:webhooks_delivery_changelist"), {"action": "replay_failed_since"})

    assert response.status_code == 302
    assert response["Location"] == reverse(REPLAY_URL)
    changelist = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    assert reverse(REPLAY_URL) in changelist  # also a button above the list


def test_the_action_with_a_selection_proposes_its_earliest_time(admin_client, history):
    response = admin_client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "replay_failed_since", "_selected_action": [history["failure"].pk, history["failure2"].pk]},
    )

    assert response["Location"] == reverse(REPLAY_URL) + "?since=" + local(history["failure"].received_at).replace(
        ":", "%3A"
    )


def test_the_page_shows_the_failed_events_since_the_time(admin_client, history):
    since = timezone.now() - timedelta(hours=3)

    response = admin_client.get(reverse(REPLAY_URL), {"since": local(since)})

    assert response.status_code == 200
    assert response.context["count"] == 2
    assert {d.pk for d in response.context["preview"]} == {history["failure"].pk, history["failure2"].pk}
    assert 'name="_replay"' in response.content.decode()


def test_replaying_queues_exactly_the_failed_events_since_the_time(admin_client, history):
    since = timezone.now() - timedelta(hours=3)

    response = admin_client.post(reverse(REPLAY_URL), {"since": local(since), "_replay": "1"}, follow=True)

    assert "Queued 2 failed events received since" in response.content.decode()
    statuses = {name: Delivery.objects.get(pk=delivery.pk).status for name, delivery in history.items()}
    assert statuses == {
        "old_failure": "failed",
        "failure": "accepted",
        "failure2": "accepted",
        "processed": "processed",
        "rejected": "rejected",
    }


def test_a_time_in_the_future_is_refused(admin_client, history):
    response = admin_client.post(
        reverse(REPLAY_URL), {"since": local(timezone.now() + timedelta(days=1)), "_replay": "1"}
    )

    assert response.status_code == 200
    assert "Choose a time in the past." in response.content.decode()
    assert Delivery.objects.filter(status="accepted").count() == 0


def test_replaying_needs_the_change_permission(client, history):
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(clerk)

    assert client.get(reverse(REPLAY_URL)).status_code == 403
    assert client.post(reverse(REPLAY_URL), {"since": "2000-01-01T00:00", "_replay": "1"}).status_code == 403
    assert Delivery.objects.filter(status="failed").count() == 3

"""/readyz/queues: read like /metrics, and a flood of requests does not broadcast to the workers per request."""

import pytest

import core.queues
from core.queues import queues_inspect, queues_reading_forget
from tests.support.processes import queues_purge


@pytest.fixture(autouse=True)
def _fresh_answer():
    """No reading kept from another test, and nothing waiting in the queues: with no worker running
    beside these tests (tests/conftest.py), nothing is unconsumed, and the answer is a 200."""
    queues_reading_forget()
    queues_purge()


@pytest.mark.django_db
def test_queue_states_are_served_to_loopback_and_private_addresses_only(client):
    assert client.get("/readyz/queues").status_code == 200
    public = client.get("/readyz/queues", REMOTE_ADDR="8.8.8.8")
    proxied = client.get("/readyz/queues", headers={"X-Forwarded-For": "8.8.8.8"})

    assert (public.status_code, proxied.status_code) == (403, 403)
    assert "queues" not in public.json() and "queues" not in proxied.json()


@pytest.mark.django_db
def test_with_a_metrics_token_only_the_token_opens_the_queue_states(client, settings):
    settings.METRICS_TOKEN = "scrape-me"

    refused = client.get("/readyz/queues")
    right = client.get("/readyz/queues", REMOTE_ADDR="8.8.8.8", headers={"Authorization": "Bearer scrape-me"})

    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert "queues" not in refused.json()
    assert right.status_code == 200 and "queues" in right.json()


@pytest.mark.django_db
def test_many_requests_within_a_few_seconds_ask_the_workers_once(client, monkeypatch):
    asked = []

    def counted(**kwargs):
        asked.append(kwargs)
        return queues_inspect(**kwargs)  # the real broadcast, only counted

    monkeypatch.setattr(core.queues, "queues_inspect", counted)

    answers = [client.get("/readyz/queues") for _ in range(10)]

    assert len(asked) == 1
    assert len({(answer.status_code, answer.content) for answer in answers}) == 1
    assert answers[0].status_code == 200 and "queues" in answers[0].json()

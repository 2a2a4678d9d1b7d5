"""The broker (Redis) and the document storage (the S3 server) stopped and started again.

Both are the servers `make test` started, stopped by their PIDs and started again with the
same command lines (scripts/services.sh), on the same ports. Neither keeps data across the
restart, as a Redis without persistence or a replaced S3 node would not.
"""

import hashlib
import time

import pytest

from advance_sim import SimDocument, document_sha256
from documents.models import Document, DocumentAttempt
from tests.factories import send
from tests.support.faults import sweeping, worker_reconnected
from tests.support.waiting import wait_for, wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Outcome = DocumentAttempt.Outcome


def assert_all_stored_once(documents: list[Document], sim_documents: dict[str, SimDocument], bucket) -> None:
    assert {d.status for d in documents} == {Document.Status.STORED}, [(d.pk, d.last_error) for d in documents]
    assert bucket.keys() == sorted(d.storage_key for d in documents)
    for document in documents:
        body = bucket.get(document.storage_key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == document_sha256(sim_documents[document.advance_id])
        outcomes = list(DocumentAttempt.objects.filter(document=document).values_list("outcome", flat=True))
        assert outcomes.count(Outcome.STORED) == 1


def test_broker_down_events_are_accepted_and_synced_once_it_is_back(
    own_worker, advance, token_key, webhook_url, bucket, redis_server, caplog
):
    # Before the outage: a document waiting for its retry (Advance asked for 4 s). The worker
    # holds that retry in memory, and drops it when its broker connection goes.
    waiting = SimDocument(kind="pdf", name="Waiting")
    first = advance.add_work_item(documents=[waiting])
    advance.fail_next(1, 503, path_contains=f"/documents/{waiting.id}/", headers={"Retry-After": "4"})
    assert send(webhook_url, advance.event_payload(first), token_key).status_code == 202
    wait_for(
        lambda: DocumentAttempt.objects.filter(document__advance_id=waiting.id, outcome=Outcome.RETRY).exists(),
        message="the first document's retry to be scheduled",
    )
    later = [SimDocument(kind="docx", name=f"Later {n}") for n in range(4)]
    work_items = [advance.add_work_item(documents=later[:2]), advance.add_work_item(documents=later[2:])]

    with redis_server.down():
        answers = []
        for work_item in work_items:
            started = time.monotonic()
            response = send(webhook_url, advance.event_payload(work_item), token_key)
            answers.append((response.status_code, time.monotonic() - started))
        accepted = list(Delivery.objects.filter(status=Delivery.Status.ACCEPTED, processed_at__isnull=True))
        time.sleep(1)  # the sweep's staleness here

    # Stored durably and answered 202, quickly, while the broker was down.
    assert [status for status, _ in answers] == [202, 202]
    assert max(seconds for _, seconds in answers) < 3
    assert len(accepted) == 2

    worker_reconnected(own_worker)
    with sweeping():
        documents = wait_until_settled(5, timeout=60)

    assert_all_stored_once(documents, {d.id: d for d in [waiting, *later]}, bucket)
    assert Delivery.objects.filter(status=Delivery.Status.PROCESSED).count() == 3
    # Exactly once: each document downloaded once, the first also once for its 503.
    assert len(advance.requests_for(f"/documents/{waiting.id}/")) == 2
    for document in later:
        assert len(advance.requests_for(f"/documents/{document.id}/")) == 1


def test_events_accepted_while_the_broker_is_down_are_stored_within_30_s_of_its_return(
    own_worker, advance, token_key, webhook_url, bucket, redis_server
):
    sim_documents = [SimDocument(kind="docx", name=f"Contract {n}") for n in range(4)]
    work_items = [advance.add_work_item(documents=sim_documents[n : n + 2]) for n in (0, 2)]

    with redis_server.down():
        for work_item in work_items:
            assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
        time.sleep(3)  # the worker's relay tries, and fails, to publish them meanwhile
        assert Delivery.objects.filter(status=Delivery.Status.ACCEPTED).count() == 2
    returned = time.monotonic()

    # No sweep runs here (beat's would come minutes later): the relay publishes them as the broker answers.
    documents = wait_until_settled(4, timeout=30)
    assert time.monotonic() - returned < 30
    assert_all_stored_once(documents, {d.id: d for d in sim_documents}, bucket)
    assert Delivery.objects.filter(status=Delivery.Status.PROCESSED).count() == 2


def test_after_a_longer_outage_the_worker_is_back_on_the_broker_within_seconds(
    own_worker, advance, token_key, webhook_url, bucket, redis_server
):
    # Celery alone tries a lost broker again after 2, 4, 6 ... up to 30 s: 13 s into an outage its
    # next try is 7 s away, and after minutes up to 30 s. Our consumer tries every second or two
    # (config/worker_consumer.py), so the 30 s promise holds however long the outage was.
    sim_documents = [SimDocument(kind="docx", name="Annex")]
    work_item = advance.add_work_item(documents=sim_documents)

    with redis_server.down():
        assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
        time.sleep(13)
    returned = time.monotonic()

    documents = wait_until_settled(1, timeout=30)
    assert time.monotonic() - returned < 5
    assert_all_stored_once(documents, {d.id: d for d in sim_documents}, bucket)


def both_failed_an_attempt() -> list[DocumentAttempt] | None:
    attempts = list(DocumentAttempt.objects.filter(outcome=Outcome.RETRY))
    return attempts if len({attempt.document_id for attempt in attempts}) == 2 else None


def test_storage_down_documents_retry_and_are_stored_once_it_is_back(
    fast_stack, advance, token_key, webhook_url, bucket, moto_server
):
    sim_documents = [SimDocument(kind="pdf", name="Deed"), SimDocument(kind="docx", name="Lease")]
    work_item = advance.add_work_item(documents=sim_documents)

    with moto_server.down():
        assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
        # Kept down until both documents have failed an attempt on it.
        failed = wait_for(both_failed_an_attempt, timeout=60, message="both documents to fail on the storage")
    documents = wait_until_settled(2, timeout=60)

    assert all("storage failed" in attempt.error for attempt in failed)
    assert {d.status for d in documents} == {Document.Status.STORED}
    assert_all_stored_once(documents, {d.id: d for d in sim_documents}, bucket)
    for document in documents:
        attempts = DocumentAttempt.objects.filter(document=document).count()
        assert len(advance.requests_for(f"/documents/{document.advance_id}/")) == attempts

"""The simulated Advance failing in each way, over the real stack: what becomes of the document,
what its attempt history says, and what lands in S3.

The worker runs with faults.FAST_SETTINGS: 3 s leases, backoff from 0.5 s, dead after 4
retries, a 2 s read timeout and a 4 MiB size limit.
"""

import hashlib
import time
from email.utils import formatdate

import pytest

from advance_sim import SimDocument, document_bytes, document_sha256
from documents.models import Document, DocumentAttempt
from documents.queueing import documents_retry
from tests.factories import send
from tests.support.processes import queue_depth, worker_tasks
from tests.support.waiting import wait_for, wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Outcome = DocumentAttempt.Outcome


def history(document: Document) -> list[DocumentAttempt]:
    return list(DocumentAttempt.objects.filter(document=document).order_by("started_at", "pk"))


def first_attempt_ended(document_advance_id: str) -> DocumentAttempt:
    """The first finished attempt of the document with this Advance id, once there is one."""
    return wait_for(
        lambda: (
            DocumentAttempt.objects.filter(document__advance_id=document_advance_id, finished_at__isnull=False)
            .order_by("pk")
            .first()
        ),
        timeout=30,
        message="the first attempt to end",
    )


def assert_stored_once(document: Document, sim_document: SimDocument, bucket) -> None:
    assert document.status == Document.Status.STORED, document.last_error
    assert bucket.keys() == [document.storage_key]
    body = bucket.get(document.storage_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == document_sha256(sim_document) == document.sha256
    assert [a.outcome for a in history(document)].count(Outcome.STORED) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_until_stored(fast_stack, advance, token_key, webhook_url, bucket, status):
    document = SimDocument(kind="docx")
    work_item = advance.add_work_item(documents=[document])
    advance.fail_next(2, status, path_contains="/content")

    assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    [stored] = wait_until_settled(1)

    assert_stored_once(stored, document, bucket)
    attempts = history(stored)
    assert [(a.outcome, a.http_status) for a in attempts] == [
        (Outcome.RETRY, status),
        (Outcome.RETRY, status),
        (Outcome.STORED, 200),
    ]
    assert attempts[0].error == f"Advance answered HTTP {status}"
    assert attempts[-1].bytes == len(document_bytes(document))
    assert all(a.finished_at >= a.started_at for a in attempts)
    assert len(advance.requests_for("/content")) == 3


def test_429_waits_at_least_retry_after(fast_stack, advance, token_key, webhook_url, bucket):
    document = SimDocument(kind="pdf")
    work_item = advance.add_work_item(documents=[document])
    # The worker's own backoff would retry after 0.25-0.5 s; Advance asks for 3.
    advance.fail_next(1, 429, path_contains="/content", headers={"Retry-After": "3"})

    send(webhook_url, advance.event_payload(work_item), token_key)
    [stored] = wait_until_settled(1)

    assert_stored_once(stored, document, bucket)
    throttled, retried = history(stored)
    assert (throttled.outcome, throttled.http_status) == (Outcome.RETRY, 429)
    first, second = advance.requests_for("/content")
    assert second.time - first.time >= 3
    assert (retried.started_at - throttled.finished_at).total_seconds() >= 2.9


def test_429_retry_after_as_an_http_date_is_honoured(fast_stack, advance, token_key, webhook_url, bucket):
    document = SimDocument(kind="pdf")
    work_item = advance.add_work_item(documents=[document])
    # A date four whole seconds ahead (a date has no fractions of a second).
    retry_at = int(time.time()) + 4
    advance.fail_next(1, 429, path_contains="/content", headers={"Retry-After": formatdate(retry_at, usegmt=True)})

    send(webhook_url, advance.event_payload(work_item), token_key)
    [stored] = wait_until_settled(1)

    assert_stored_once(stored, document, bucket)
    first, second = advance.requests_for("/content")
    # Refused over half a second before the date, so the worker's own backoff (0.25-0.5 s) would have
    # retried before it; the retry came no sooner than the date (the sim's clock is this process's).
    assert first.time < retry_at - 0.5
    assert second.time >= retry_at


def test_answer_later_than_the_read_timeout_is_retried(fast_stack, advance, token_key, webhook_url, bucket):
    document = SimDocument(kind="pdf")
    work_item = advance.add_work_item(documents=[document])
    advance.delay_seconds = 3  # over the worker's 2 s ADVANCE_READ_TIMEOUT, for every request

    send(webhook_url, advance.event_payload(work_item), token_key)
    timed_out = first_attempt_ended(document.id)
    advance.delay_seconds = 0
    [stored] = wait_until_settled(1)

    assert (timed_out.outcome, timed_out.http_status) == (Outcome.RETRY, None)
    assert "ReadTimeout" in timed_out.error  # at the log-in or the download, whichever came first
    assert 1.9 <= (timed_out.finished_at - timed_out.started_at).total_seconds() < 10
    assert_stored_once(stored, document, bucket)


def test_body_stalling_past_the_read_timeout_is_retried(fast_stack, advance, token_key, webhook_url, bucket):
    document = SimDocument(kind="pdf", size=1024 * 1024)
    work_item = advance.add_work_item(documents=[document])
    advance.chunk_delay_seconds = 3  # 64 KiB, then silence longer than the read timeout

    send(webhook_url, advance.event_payload(work_item), token_key)
    stalled = first_attempt_ended(document.id)
    advance.chunk_delay_seconds = 0
    [stored] = wait_until_settled(1)

    assert (stalled.outcome, stalled.http_status) == (Outcome.RETRY, 200)
    assert "no data within the read timeout" in stalled.error
    assert stalled.bytes < document.size  # the headers came (200), the body stopped
    assert_stored_once(stored, document, bucket)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_connection_cut_mid_body_is_retried(fast_stack, advance, token_key, webhook_url, bucket, chunked):
    document = SimDocument(kind="pdf", size=1024 * 1024, chunked=chunked)
    work_item = advance.add_work_item(documents=[document])
    advance.cut_after_bytes = 200_000

    send(webhook_url, advance.event_payload(work_item), token_key)
    cut = first_attempt_ended(document.id)
    advance.cut_after_bytes = None
    [stored] = wait_until_settled(1)

    assert (cut.outcome, cut.http_status) == (Outcome.RETRY, 200)
    assert "download interrupted after" in cut.error
    assert 0 < cut.bytes <= 200_000
    assert_stored_once(stored, document, bucket)
    assert stored.size == document.size


def test_refused_log_in_is_retried_until_accepted(fast_stack, advance, token_key, webhook_url, bucket):
    document = SimDocument(kind="docx")
    work_item = advance.add_work_item(documents=[document])
    advance.fail_next(2, 401, path_contains="ServicePrincipalLogIn")

    send(webhook_url, advance.event_payload(work_item), token_key)
    [stored] = wait_until_settled(1)

    assert_stored_once(stored, document, bucket)
    attempts = history(stored)
    assert [(a.outcome, a.http_status) for a in attempts] == [
        (Outcome.RETRY, 401),
        (Outcome.RETRY, 401),
        (Outcome.STORED, 200),
    ]
    assert attempts[0].error == "log-in refused: HTTP 401"
    assert len(advance.requests_for("/content")) == 1


def test_missing_document_fails_at_once(fast_stack, advance, token_key, webhook_url, bucket):
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    payload = advance.event_payload(work_item)
    payload["data"]["documents"][0]["url"] = advance.document_url(work_item.id, "0000-missing")

    send(webhook_url, payload, token_key)
    [failed] = wait_until_settled(1)
    # Once its sync has ended, no retry of it waits anywhere: not in the queue, not in the worker.
    wait_for(lambda: not worker_tasks(fast_stack)["active"], message="the sync to end")
    assert queue_depth("documents") == 0
    assert worker_tasks(fast_stack) == {"active": [], "reserved": [], "scheduled": []}

    assert failed.status == Document.Status.FAILED
    assert failed.last_error == "Advance answered HTTP 404"
    assert [(a.outcome, a.http_status) for a in history(failed)] == [(Outcome.FAILED, 404)]
    assert len(advance.requests_for("/content")) == 1
    assert bucket.keys() == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_document_over_the_size_limit_fails_at_once(fast_stack, advance, token_key, webhook_url, bucket, chunked):
    # The worker's DOCUMENT_MAX_BYTES is 4 MiB. Announced by Content-Length it is refused before
    # any byte is read; sent chunked it is stopped once the limit is passed.
    document = SimDocument(kind="pdf", size=5 * 1024 * 1024, chunked=chunked)
    work_item = advance.add_work_item(documents=[document])

    send(webhook_url, advance.event_payload(work_item), token_key)
    [failed] = wait_until_settled(1)

    assert failed.status == Document.Status.FAILED
    assert "limit of 4194304" in failed.last_error
    [attempt] = history(failed)
    assert (attempt.outcome, attempt.http_status) == (Outcome.FAILED, 200)
    if chunked:
        assert 4 * 1024 * 1024 < attempt.bytes < document.size
    else:
        assert attempt.bytes == 0
    assert bucket.keys() == []
    uploads = bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", [])
    assert uploads == []  # the part already uploaded was aborted, not left to be billed
    assert len(advance.requests_for("/content")) == 1


def test_retries_exhausted_make_the_document_dead_then_replay_stores_it(
    fast_stack, advance, token_key, webhook_url, bucket
):
    document = SimDocument(kind="docx")
    work_item = advance.add_work_item(documents=[document])
    advance.fail_next(1000, 503, path_contains="/content")

    send(webhook_url, advance.event_payload(work_item), token_key)
    [dead] = wait_until_settled(1, timeout=60)

    assert dead.status == Document.Status.DEAD
    assert dead.last_error == "gave up after 5 attempts: Advance answered HTTP 503"
    assert [(a.outcome, a.http_status) for a in history(dead)] == [(Outcome.RETRY, 503)] * 4 + [(Outcome.DEAD, 503)]
    assert bucket.keys() == []

    advance.reset()  # Advance is back
    assert documents_retry(documents=Document.objects.filter(pk=dead.pk)) == 1
    [stored] = wait_until_settled(1)

    assert_stored_once(stored, document, bucket)
    assert [a.outcome for a in history(stored)][-2:] == [Outcome.DEAD, Outcome.STORED]
    assert len(advance.requests_for("/content")) == 1  # reset() cleared the log of the 5 refused


def test_event_whose_document_list_is_refused_fails_instead_of_looping(fast_stack, advance, token_key, webhook_url):
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    payload = advance.event_payload(work_item, include_documents=False)
    advance.fail_next(1, 404, path_contains="/Documents")

    response = send(webhook_url, payload, token_key)
    delivery = wait_for(
        lambda: (
            Delivery.objects.filter(public_id=response.json()["id"]).exclude(status=Delivery.Status.ACCEPTED).first()
        ),
        timeout=20,
        message="the event to be processed",
    )

    assert delivery.status == Delivery.Status.FAILED
    assert "could not be listed: Advance answered HTTP 404" in delivery.last_error
    assert Document.objects.count() == 0

"""A real worker killed with SIGKILL in the middle of a download, and a download that runs too long.

The worker runs the project's pool, threads, in one process: there is no pool process to lose
alone (prefork's `reject_on_worker_lost`), and no task time limit is enforced by the pool. The
ways back, each tested alone (no other path is open in its test, so each can fail):
- the worker dies: its unacknowledged message (`acks_late`) comes back from Redis once the
  visibility timeout has passed, to a new worker;
- the worker dies and the message is never seen again: beat's sweep finds the document syncing
  under a lapsed lease and queues it again;
- a download outlives DOCUMENT_SYNC_TIME_LIMIT: the sync's own deadline stops it, and it is retried.

Each worker here is the test's own (not the suite's), so killing it breaks nothing else.
"""

import hashlib
import time

import pytest
from django.utils import timezone

from advance_sim import SimDocument, document_sha256
from documents.models import Document, DocumentAttempt
from documents.queueing import documents_requeue_stalled
from tests.factories import send
from tests.support.faults import kill_whole_worker
from tests.support.waiting import wait_for, wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# 12 MiB at 64 KiB every 15 ms: about 3 s to download; a multipart upload of three 5 MiB parts.
SIZE = 12 * 1024 * 1024
CHUNK_DELAY = 0.015
# The workers' own: no document size limit of the fast settings, a visibility timeout of 4 s
# where the test relies on it (the suite's default, an hour, everywhere else).
LARGE = {"DOCUMENT_MAX_BYTES": str(SIZE * 2)}


@pytest.fixture
def started(started):
    """start(**env): conftest's, with workers that take documents of SIZE (LARGE)."""
    return lambda **env: started(**LARGE, **env)


def sync_and_wait_mid_download(advance, token_key, webhook_url) -> tuple[SimDocument, Document]:
    """Send an event with one large, slowly served document; return 1.5 s into its download."""
    document = SimDocument(kind="pdf", size=SIZE, chunked=True)
    work_item = advance.add_work_item(documents=[document])
    advance.chunk_delay_seconds = CHUNK_DELAY
    assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    wait_for(lambda: advance.requests_for("/content"), timeout=20, message="the download to start")
    syncing = wait_for(
        lambda: Document.objects.filter(status=Document.Status.SYNCING).first(), message="the document to be syncing"
    )
    time.sleep(1.5)  # about half-way through the download
    return document, syncing


def assert_still_syncing(document: Document) -> None:
    """The kill came mid-download (else the test would prove nothing)."""
    document.refresh_from_db()
    assert document.status == Document.Status.SYNCING
    assert not DocumentAttempt.objects.filter(document=document, finished_at__isnull=False).exists()


def sim_port(advance) -> int:
    return int(advance.base_url.rsplit(":", 1)[1])


def assert_stored_exactly_once(document: SimDocument, bucket, advance) -> Document:
    [stored] = wait_until_settled(1, timeout=60)
    assert stored.status == Document.Status.STORED, stored.last_error
    assert bucket.keys() == [stored.storage_key]
    s3_object = bucket.get(stored.storage_key)
    assert s3_object["ContentLength"] == SIZE == stored.size
    assert hashlib.sha256(s3_object["Body"].read()).hexdigest() == document_sha256(document) == stored.sha256
    assert s3_object["Metadata"]["sha256"] == stored.sha256
    attempts = list(DocumentAttempt.objects.filter(document=stored).order_by("started_at", "pk"))
    # The killed attempt, closed by the one that took over; then exactly one that stored.
    assert [a.outcome for a in attempts] == [DocumentAttempt.Outcome.RETRY, DocumentAttempt.Outcome.STORED]
    assert "abandoned" in attempts[0].error
    assert len(advance.requests_for("/content")) == 2  # the killed download and the one that stored
    return stored


def test_download_past_the_sync_time_limit_is_stopped_by_its_deadline_and_retried(
    started, advance, token_key, webhook_url, bucket
):
    # About 3 s to download against a limit of 2 s: the threads pool would let it run to its end.
    # The retry waits 1-2 s (backoff base 2), time enough to make the line fast for it.
    worker = started(DOCUMENT_SYNC_TIME_LIMIT="2", RETRY_BACKOFF_BASE_SECONDS="2")
    document, syncing = sync_and_wait_mid_download(advance, token_key, webhook_url)
    wait_for(
        lambda: DocumentAttempt.objects.filter(document=syncing, finished_at__isnull=False).first(),
        timeout=20,
        message="the first attempt to stop",
    )
    advance.chunk_delay_seconds = 0  # the retry is quick

    [stored] = wait_until_settled(1, timeout=60)
    assert stored.status == Document.Status.STORED, stored.last_error
    assert bucket.keys() == [stored.storage_key]
    s3_object = bucket.get(stored.storage_key)
    assert hashlib.sha256(s3_object["Body"].read()).hexdigest() == document_sha256(document) == stored.sha256
    attempts = list(DocumentAttempt.objects.filter(document=stored).order_by("started_at", "pk"))
    assert [a.outcome for a in attempts] == [DocumentAttempt.Outcome.RETRY, DocumentAttempt.Outcome.STORED]
    assert "the download took longer than 2 s" in attempts[0].error
    assert attempts[0].bytes < SIZE  # stopped part-way, not after the whole download
    assert worker.process.poll() is None


def test_killed_worker_message_comes_back_after_the_visibility_timeout(
    started, advance, token_key, webhook_url, bucket
):
    first = started()
    document, syncing = sync_and_wait_mid_download(advance, token_key, webhook_url)

    kill_whole_worker(first)
    assert_still_syncing(syncing)
    advance.chunk_delay_seconds = 0
    # No sweep here: only the unacknowledged message, back from Redis, can bring the document back.
    # Kombu restores messages unacknowledged for longer than the visibility timeout when a worker
    # starts, then only on every tenth of its 10-second checks: start the new worker once the
    # message is older than that, as a worker restarted after a crash would find it.
    time.sleep(4)
    started(CELERY_VISIBILITY_TIMEOUT="4")

    assert_stored_exactly_once(document, bucket, advance)


def test_killed_worker_document_is_taken_over_by_the_sweep(started, advance, token_key, webhook_url, bucket):
    first = started()
    document, syncing = sync_and_wait_mid_download(advance, token_key, webhook_url)

    kill_whole_worker(first)
    assert_still_syncing(syncing)
    advance.chunk_delay_seconds = 0
    # The killed worker's message stays unacknowledged in Redis for the default hour: only the
    # sweep can bring the document back within the test.
    started()
    wait_for(
        lambda: Document.objects.filter(pk=syncing.pk, lease_expires_at__lt=timezone.now()).exists(),
        timeout=10,
        message="the dead worker's lease to lapse",
    )
    assert documents_requeue_stalled() == 1

    assert_stored_exactly_once(document, bucket, advance)

"""The lease fences a document's writers: an attempt whose lease lapsed (a stuck worker, a
database outage that stopped its renewals) and was taken over stops, and can no longer write.

The sync service runs in this process here, in two threads standing for two workers.
"""

import hashlib
import threading

import pytest
from django.db import connection
from django.utils import timezone

from advance_sim import SimDocument, document_sha256
from documents.models import Document, DocumentAttempt
from documents.sync import document_sync
from documents.sync.claim import LeaseHeld
from tests.factories import document_make
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def in_thread(target) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_attempt_whose_lease_was_taken_over_stops_and_the_document_is_stored_once(source, advance, bucket, settings):
    settings.DOCUMENT_LEASE_SECONDS = 3  # renewed every second
    sim_document = SimDocument(kind="pdf", size=3 * 1024 * 1024)
    work_item = advance.add_work_item(documents=[sim_document])
    document = document_make(
        source,
        work_item_id=work_item.id,
        version_id=work_item.version_id,
        document_id=sim_document.id,
        status=Document.Status.PENDING,
        url=advance.document_url(work_item.id, sim_document.id),
    )
    advance.chunk_delay_seconds = 0.05  # 48 chunks: about 2.5 s

    first, first_outcome = in_thread(lambda: document_sync(document_id=document.pk))
    wait_for(lambda: advance.requests_for("/content"), message="the first download to start")
    # The first attempt's renewals are late (as in a database outage): its lease lapses and a
    # second attempt takes the document over.
    second_outcome: list = []
    while not second_outcome or isinstance(second_outcome[0], LeaseHeld):
        Document.objects.filter(pk=document.pk).update(lease_expires_at=timezone.now())
        second, second_outcome = in_thread(lambda: document_sync(document_id=document.pk))
        second.join()
    first.join()

    assert first_outcome == [None] and second_outcome == [None]
    document.refresh_from_db()
    assert document.status == Document.Status.STORED
    assert document.sha256 == document_sha256(sim_document)
    assert bucket.keys() == [document.storage_key]
    body = bucket.get(document.storage_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == document_sha256(sim_document)
    attempts = list(DocumentAttempt.objects.filter(document=document).order_by("started_at", "pk"))
    assert [a.outcome for a in attempts] == [DocumentAttempt.Outcome.RETRY, DocumentAttempt.Outcome.STORED]
    # The first one found out at its next renewal, and stopped before uploading it all.
    assert "lease was lost" in attempts[0].error
    assert attempts[0].bytes < sim_document.size

"""Deliveries racing each other: the database's constraints decide, whatever the interleaving."""

import threading
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from advance_sim import SimDocument, document_sha256
from documents.models import Document, DocumentAttempt, WorkItem, WorkItemVersion
from tests.factories import send
from tests.support.waiting import wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class WideServer(ThreadedWSGIServer):
    # Django's test server queues 10 connections; 50 at once would be reset before they are read,
    # where a production server (gunicorn: 2048) takes them all.
    request_queue_size = 128


@pytest.fixture
def wide_webhook_url(fast_stack) -> Iterator[str]:
    """The webhook URL on an in-process server that accepts 50 connections at once."""
    server = WideServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/advance/"
    server.shutdown()
    server.server_close()
    thread.join()


def send_together(webhook_url: str, token_key: str, payloads: list[dict]) -> list:
    """POST every payload from a thread of its own, all released at the same instant."""
    barrier = threading.Barrier(len(payloads))
    answers: list = [None] * len(payloads)

    def post(index: int, payload: dict) -> None:
        barrier.wait()
        try:
            answers[index] = send(webhook_url, payload, token_key, timeout=30)
        except Exception as error:  # noqa: BLE001 - reported by the test
            answers[index] = error

    threads = [threading.Thread(target=post, args=(n, p)) for n, p in enumerate(payloads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def assert_each_stored_once(documents: list[Document], sim_documents: list[SimDocument], bucket, advance) -> None:
    by_id = {d.id: d for d in sim_documents}
    assert {d.status for d in documents} == {Document.Status.STORED}, [d.last_error for d in documents]
    assert sorted(d.advance_id for d in documents) == sorted(by_id)
    assert bucket.keys() == sorted(d.storage_key for d in documents)
    for document in documents:
        assert bucket.get(document.storage_key)["Metadata"]["sha256"] == document_sha256(by_id[document.advance_id])
        assert DocumentAttempt.objects.filter(document=document, outcome=DocumentAttempt.Outcome.STORED).count() == 1
        # Downloaded once: no two workers ever synced the same document.
        assert len(advance.requests_for(f"/documents/{document.advance_id}/")) == 1


def test_fifty_simultaneous_deliveries_of_one_event(fast_stack, advance, token_key, wide_webhook_url, bucket):
    sim_documents = [SimDocument(kind="docx"), SimDocument(kind="pdf"), SimDocument(kind="pdf", name="Annex")]
    work_item = advance.add_work_item(documents=sim_documents)
    payload = advance.event_payload(work_item)

    answers = send_together(wide_webhook_url, token_key, [payload] * 50)

    assert all(not isinstance(a, Exception) for a in answers), [a for a in answers if isinstance(a, Exception)]
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 49 + [202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sorted(a.json()["status"] for a in answers) == ["accepted"] + ["duplicate"] * 49
    documents = wait_until_settled(3)
    events = Delivery.objects.exclude(status=Delivery.Status.DUPLICATE)
    assert [e.status for e in events] == [Delivery.Status.PROCESSED]
    assert Delivery.objects.filter(status=Delivery.Status.DUPLICATE, duplicate_of=events[0]).count() == 49
    assert WorkItemVersion.objects.count() == 1
    assert_each_stored_once(documents, sim_documents, bucket, advance)


def test_versions_of_one_work_item_arriving_together_are_all_kept(fast_stack, advance, token_key, webhook_url, bucket):
    # Three work items, two versions each, all six events at once: the work item row is created
    # by whichever event gets there first, and every version keeps its own documents.
    payloads, sim_documents = [], []
    for n in range(3):
        work_item = advance.add_work_item(name=f"Lease {n}", documents=[SimDocument(kind="docx", name=f"Lease {n}")])
        first_version = work_item.version_id
        advance.new_version(work_item)
        for version in work_item.versions:
            sim_documents.extend(version.documents)
        payloads += [
            advance.event_payload(work_item, version_id=first_version),
            advance.event_payload(work_item, version_id=work_item.version_id),
        ]

    answers = send_together(webhook_url, token_key, payloads)

    assert [a.status_code for a in answers] == [202] * 6
    documents = wait_until_settled(6)
    assert WorkItem.objects.count() == 3
    assert WorkItemVersion.objects.count() == 6
    for work_item in WorkItem.objects.all():
        versions = work_item.versions.all()
        assert len(versions) == 2
        assert all(version.documents.count() == 1 for version in versions)
    assert len({d.storage_key.rsplit("/", 2)[0] for d in documents}) == 6  # one key prefix per version
    assert_each_stored_once(documents, sim_documents, bucket, advance)

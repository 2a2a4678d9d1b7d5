"""Reconciliation over the real stack: versions whose webhooks were lost are found through
Advance's list calls, and exactly their documents stored; a late webhook then stores nothing twice."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from advance_sim import SimDocument, document_bytes
from documents import reconcile
from documents.models import Document, WorkItemVersion
from documents.reconcile import sources_reconcile_due
from sources.models import SourceSync
from tests.factories import send
from tests.support.waiting import wait_for, wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small_pages(monkeypatch):
    # Two work items a page, so that a handful of them already takes several pages.
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)


def complete_work_items(advance, count: int) -> list:
    return [
        advance.add_work_item(
            name=f"WI{n}",
            documents=[SimDocument(name=f"Doc {n}", kind="docx"), SimDocument(name=f"Sum {n}", kind="pdf")],
        )
        for n in range(count)
    ]


def key_of(work_item, document) -> str:
    return f"advance/acme/{work_item.id}/{work_item.version_id}/{document.id}/{document.filename}"


def test_reconcile_stores_exactly_the_documents_whose_webhooks_were_lost(
    stack, advance, source, token_key, webhook_url, bucket, small_pages
):
    work_items = complete_work_items(advance, 5)
    announced, lost = work_items[:2], work_items[2:]
    for work_item in announced:
        assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    wait_until_settled(4)
    downloads_before = len(advance.requests_for("/content"))

    out = StringIO()
    call_command("advance_reconcile", "acme", "--no-progress", stdout=out)
    documents = wait_until_settled(10)

    assert {d.status for d in documents} == {Document.Status.STORED}
    assert bucket.keys() == sorted(key_of(w, d) for w in work_items for d in w.documents)
    for work_item in lost:
        for document in work_item.documents:
            assert bucket.get(key_of(work_item, document))["Body"].read() == document_bytes(document)
    # Only the lost versions' documents were downloaded, each once.
    assert len(advance.requests_for("/content")) - downloads_before == 6
    reconciled = WorkItemVersion.objects.filter(recorded_by=WorkItemVersion.RecordedBy.RECONCILE)
    assert sorted(v.advance_id for v in reconciled) == sorted(w.version_id for w in lost)
    # Paged: skip=0, 2, 4 for five work items.
    assert [r.query.split("skip=")[1].split("&")[0] for r in advance.requests if r.path.endswith("/WorkItems")] == [
        "0",
        "2",
        "4",
    ]
    sync = SourceSync.objects.get(source=source)
    assert sync.reconcile_watermark == max(w.versions[-1].completed_at for w in work_items)
    assert sync.reconcile_last_error == ""
    assert "3 recorded" in out.getvalue()


def test_a_late_webhook_for_a_reconciled_version_stores_nothing_twice(
    stack, advance, source, token_key, webhook_url, bucket
):
    [work_item] = complete_work_items(advance, 1)
    call_command("advance_reconcile", "acme", "--no-progress", stdout=StringIO())
    wait_until_settled(2)
    keys = bucket.keys()
    modified = {key: bucket.get(key)["LastModified"] for key in keys}
    downloads = len(advance.requests_for("/content"))

    # Advance's delivery arrives after all, with its own eventId.
    response = send(webhook_url, advance.event_payload(work_item), token_key)
    assert response.status_code == 202
    wait_for(
        lambda: Delivery.objects.get(public_id=response.json()["id"]).status == Delivery.Status.PROCESSED,
        message="the late event processed",
    )

    assert bucket.keys() == keys
    assert {key: bucket.get(key)["LastModified"] for key in keys} == modified
    assert len(advance.requests_for("/content")) == downloads
    assert Document.objects.count() == 2
    version = WorkItemVersion.objects.get()
    assert str(version.delivery.public_id) == response.json()["id"]  # the event becomes its provenance
    assert version.recorded_by == WorkItemVersion.RecordedBy.RECONCILE


def test_watermark_stops_before_a_version_that_could_not_be_recorded(stack, advance, source, bucket):
    first, failing, last = complete_work_items(advance, 3)
    # Its document list (on this API v1.1, the work item's) answers 500 until the reset.
    advance.fail_next(100, 500, path_contains=f"/workitems/{failing.id}/documents")

    with pytest.raises(CommandError):
        call_command("advance_reconcile", "acme", "--no-progress", stdout=StringIO(), stderr=StringIO())
    wait_until_settled(4)
    sync = SourceSync.objects.get(source=source)

    assert sync.reconcile_watermark == first.versions[-1].completed_at
    assert failing.version_id in sync.reconcile_last_error
    assert not WorkItemVersion.objects.filter(advance_id=failing.version_id).exists()

    advance.reset()
    call_command("advance_reconcile", "acme", "--no-progress", stdout=StringIO())
    wait_until_settled(6)

    sync.refresh_from_db()
    assert sync.reconcile_watermark == last.versions[-1].completed_at
    assert len(bucket.keys()) == 6
    assert len(advance.requests_for("/content")) == 2  # since the reset: the failed version's only


def test_dry_run_records_nothing(stack, advance, source, bucket):
    work_items = complete_work_items(advance, 2)

    out = StringIO()
    call_command("advance_reconcile", "acme", "--dry-run", "--no-progress", stdout=out)

    assert WorkItemVersion.objects.count() == 0
    assert SourceSync.objects.get(source=source).reconcile_watermark is None
    assert all(w.version_id in out.getvalue() for w in work_items)
    assert advance.requests_for("/content") == []


def test_reconcile_draws_a_progress_bar_on_a_terminal(stack, advance, source, bucket):
    complete_work_items(advance, 2)

    err = StringIO()
    call_command("advance_reconcile", "acme", "--progress", stdout=StringIO(), stderr=err)

    assert "[" + "#" * 30 + "] 2/2 versions" in err.getvalue()
    assert wait_until_settled(4)


def test_since_looks_further_back_than_the_watermark(stack, advance, source, bucket):
    [work_item] = complete_work_items(advance, 1)
    SourceSync.objects.update_or_create(
        source=source, defaults={"reconcile_watermark": work_item.versions[-1].completed_at + timedelta(hours=1)}
    )
    call_command("advance_reconcile", "acme", "--no-progress", stdout=StringIO())
    assert WorkItemVersion.objects.count() == 0

    since = (work_item.versions[-1].completed_at - timedelta(minutes=1)).isoformat()
    call_command("advance_reconcile", "acme", "--since", since, "--no-progress", stdout=StringIO())

    assert wait_until_settled(2)
    assert WorkItemVersion.objects.get().advance_id == work_item.version_id


def test_beat_reconciles_each_active_source_when_its_interval_has_passed(stack, advance, source, bucket):
    [work_item] = complete_work_items(advance, 1)

    assert sources_reconcile_due() == 1
    assert sources_reconcile_due() == 0  # not due again before its interval
    documents = wait_until_settled(2)

    assert {d.version.advance_id for d in documents} == {work_item.version_id}
    sync = SourceSync.objects.get(source=source)
    assert sync.reconcile_next_at is not None and sync.reconcile_last_run_at is not None


def test_reconcile_on_api_v1_1_stores_only_the_newest_versions_documents(stack, advance, source, bucket, admin_client):
    from django.urls import reverse

    older = SimDocument(name="Letter v1", kind="docx")
    work_item = advance.add_work_item(name="WI1", documents=[older])
    older_version = work_item.version_id
    newest = SimDocument(name="Letter v2", kind="pdf", text="the second version's letter")
    newest_version = advance.new_version(work_item, documents=[newest])
    # Both versions' webhooks were lost; this source's API (v1.1) lists only the latest documents.

    call_command("advance_reconcile", "acme", "--no-progress", stdout=StringIO())

    def settled():
        documents = list(Document.objects.all())
        busy = [d for d in documents if d.status in (Document.Status.PENDING, Document.Status.SYNCING)]
        return documents if documents and not busy else None

    documents = wait_for(settled, timeout=60, message="the reconciled documents to settle")
    assert bucket.keys() == [key_of(work_item, newest)]
    assert bucket.get(key_of(work_item, newest))["Body"].read() == document_bytes(newest)
    [document] = documents
    assert (document.version.advance_id, document.status) == (newest_version, Document.Status.STORED)
    old = WorkItemVersion.objects.get(advance_id=older_version)
    assert old.documents.count() == 0
    assert old.documents_from == WorkItemVersion.DocumentsFrom.NOT_FETCHABLE
    assert old.recorded_by == WorkItemVersion.RecordedBy.RECONCILE
    assert len(advance.requests_for(f"/workitems/{work_item.id}/documents")) == 2  # one list, one download
    page = admin_client.get(reverse("admin:documents_workitemversion_change", args=[old.pk])).content.decode()
    assert "Not fetchable" in page


def test_reconcile_now_on_the_source_list_stores_the_documents_of_a_lost_webhook(
    stack, advance, source, bucket, admin_client
):
    from django.urls import reverse

    lost = SimDocument(name="Lost letter", kind="pdf")
    work_item = advance.add_work_item(name="WI1", documents=[lost])

    response = admin_client.post(
        reverse("admin:sources_source_changelist"),
        {"action": "source_reconcile_now", "_selected_action": [source.pk]},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == ["Queued a reconciliation of 1 source(s)."]
    [document] = wait_until_settled(1)
    assert document.status == Document.Status.STORED
    assert bucket.get(key_of(work_item, lost))["Body"].read() == document_bytes(lost)
    assert SourceSync.objects.get(source=source).reconcile_last_run_at is not None

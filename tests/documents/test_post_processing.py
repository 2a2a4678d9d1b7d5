"""PostProcessingEvent over the real stack: the documents stored, then Advance's post-assembly
processing status set to Complete once, by the call configured for the source."""

import json

import pytest

from advance_sim import SimDocument, document_bytes
from advance_sim.server import POST_PROCESSING_STATUS_PATH
from documents.models import Document, WorkItemVersion
from sources.models import SourceSync
from tests.factories import send
from tests.support.metrics import metric, metric_samples
from tests.support.processes import worker_rest
from tests.support.waiting import wait_for, wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def status_path_set(source, path: str = POST_PROCESSING_STATUS_PATH) -> None:
    SourceSync.objects.update_or_create(source=source, defaults={"post_processing_status_path": path})


def version_settled(version_id: str, *statuses: str) -> WorkItemVersion:
    def settled():
        version = WorkItemVersion.objects.filter(advance_id=version_id).first()
        return version if version is not None and version.post_processing_status in statuses else None

    return wait_for(settled, timeout=90, message=f"version {version_id} to reach {statuses}")


def test_post_processing_status_is_completed_once_after_the_documents_are_stored(
    stack, advance, source, token_key, webhook_url, bucket
):
    status_path_set(source)
    documents = [SimDocument(kind="docx"), SimDocument(name="Summary", kind="pdf")]
    work_item = advance.add_work_item(documents=documents)
    payload = advance.event_payload(work_item, event_type="PostProcessingEvent")

    assert send(webhook_url, payload, token_key).status_code == 202
    stored = wait_until_settled(2)
    version = version_settled(work_item.version_id, WorkItemVersion.PostProcessing.COMPLETED)
    # The same event again, and the version announced once more by NewWorkItemVersionComplete.
    assert send(webhook_url, payload, token_key).status_code == 200
    announced = send(webhook_url, advance.event_payload(work_item), token_key)
    assert announced.status_code == 202
    wait_for(
        lambda: Delivery.objects.get(public_id=announced.json()["id"]).status == Delivery.Status.PROCESSED,
        message="the second event processed",
    )

    assert {d.status for d in stored} == {Document.Status.STORED}
    for document in documents:
        key = next(d.storage_key for d in stored if d.advance_id == document.id)
        assert bucket.get(key)["Body"].read() == document_bytes(document)
    [call] = advance.status_calls
    assert (call.method, call.work_item_id, call.version_id) == ("PUT", work_item.id, work_item.version_id)
    assert json.loads(call.body) == {"status": "Complete"}
    [status_request] = advance.requests_for("/PostAssemblyProcessingStatus")
    assert status_request.time > max(r.time for r in advance.requests_for("/content"))
    assert version.post_processing_attempts == 1
    assert version.post_processing_completed_at is not None
    assert version.post_processing_error == ""


def test_post_processing_status_call_is_retried_after_a_503(stack, advance, source, token_key, webhook_url, bucket):
    status_path_set(source)
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    advance.fail_next(1, 503, path_contains="/postassemblyprocessingstatus", headers={"Retry-After": "1"})

    send(webhook_url, advance.event_payload(work_item, event_type="PostProcessingEvent"), token_key)
    version = version_settled(work_item.version_id, WorkItemVersion.PostProcessing.COMPLETED)

    assert len(advance.requests_for("/PostAssemblyProcessingStatus")) == 2
    assert len(advance.status_calls) == 1
    assert version.post_processing_attempts == 2
    assert version.documents.get().status == Document.Status.STORED


def test_post_processing_without_a_configured_call_fails_visibly(stack, advance, source, token_key, webhook_url):
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])

    send(webhook_url, advance.event_payload(work_item, event_type="PostProcessingEvent"), token_key)
    version = version_settled(work_item.version_id, WorkItemVersion.PostProcessing.FAILED)

    assert "in progress" in version.post_processing_error
    assert advance.requests_for("/PostAssemblyProcessingStatus") == []
    assert version.documents.get().status == Document.Status.STORED


def test_post_processing_event_without_documents_lists_the_versions_own(
    stack, advance, source, token_key, webhook_url, bucket
):
    status_path_set(source)
    SourceSync.objects.filter(source=source).update(documents_scope=SourceSync.DocumentsScope.VERSION)
    document = SimDocument(kind="docx")
    work_item = advance.add_work_item(documents=[document])

    payload = advance.event_payload(work_item, event_type="PostProcessingEvent", include_documents=False)
    send(webhook_url, payload, token_key)
    version = version_settled(work_item.version_id, WorkItemVersion.PostProcessing.COMPLETED)

    [stored] = version.documents.all()
    assert bucket.get(stored.storage_key)["Body"].read() == document_bytes(document)
    assert version.documents_from == WorkItemVersion.DocumentsFrom.VERSION
    assert len(advance.status_calls) == 1


def test_source_page_warns_when_no_status_call_is_set(admin_client, source):
    from django.urls import reverse

    url = reverse("admin:sources_source_change", args=[source.pk])
    warning = "stays &#x27;post-assembly processing is in progress&#x27;"

    assert warning in admin_client.get(url).content.decode()
    status_path_set(source)
    assert warning not in admin_client.get(url).content.decode()


def test_a_status_call_whose_message_was_lost_is_sent_again_by_the_sweep(
    stack, advance, source, token_key, webhook_url, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from documents.post_processing import versions_post_processing_requeue_stalled

    status_path_set(source)
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    send(webhook_url, advance.event_payload(work_item), token_key)
    wait_until_settled(1)
    # As if the status call had been queued long ago and its message lost with the broker.
    long_ago = timezone.now() - timedelta(seconds=settings.SWEEP_STALE_SECONDS + 60)
    WorkItemVersion.objects.update(
        post_processing_status=WorkItemVersion.PostProcessing.COMPLETING, post_processing_due_at=long_ago
    )

    assert versions_post_processing_requeue_stalled() == 1
    assert versions_post_processing_requeue_stalled() == 0  # due again only once stale again
    version_settled(work_item.version_id, WorkItemVersion.PostProcessing.COMPLETED)

    assert len(advance.status_calls) == 1


def tasks_finished(worker, task: str) -> int:
    """How many runs of the task the worker has logged as finished (succeeded, retried or raised)."""
    return sum(
        1
        for line in worker.log_text().splitlines()
        if f"{task}[" in line and (" succeeded in " in line or " retry: " in line or " raised " in line)
    )


def test_a_status_call_queued_twice_at_once_is_sent_once(stack, advance, source, token_key, webhook_url, settings):
    from datetime import timedelta

    from django.utils import timezone

    from documents.post_processing import versions_post_processing_requeue_stalled
    from documents.tasks import version_post_processing_complete

    task = "documents.tasks.version_post_processing_complete"
    status_path_set(source)
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    send(webhook_url, advance.event_payload(work_item), token_key)
    wait_until_settled(1)
    # The call's message waited in a long queue past the sweep's cut-off: the sweep sends a copy,
    # and both messages reach the worker's threads at once, while Advance takes a while to answer.
    long_ago = timezone.now() - timedelta(seconds=settings.SWEEP_STALE_SECONDS + 60)
    WorkItemVersion.objects.update(
        post_processing_status=WorkItemVersion.PostProcessing.COMPLETING, post_processing_due_at=long_ago
    )
    version = WorkItemVersion.objects.get()
    finished_before = tasks_finished(stack, task)
    advance.delay_seconds = 1.0

    assert versions_post_processing_requeue_stalled() == 1
    version_post_processing_complete.delay(version.pk)
    version_settled(work_item.version_id, WorkItemVersion.PostProcessing.COMPLETED)
    wait_for(lambda: tasks_finished(stack, task) - finished_before >= 2, message="both messages run")
    assert worker_rest(stack)  # whatever it took has ended: no run of the task is still to be logged

    assert tasks_finished(stack, task) - finished_before == 2

    assert len(advance.status_calls) == 1
    version.refresh_from_db()
    assert version.post_processing_attempts == 1
    assert version.post_processing_status == WorkItemVersion.PostProcessing.COMPLETED


FAILED_METRIC = "advance_sync_post_processing_failed_total"


def test_a_failed_document_fails_post_processing_and_its_retry_completes_it(
    stack, advance, source, token_key, webhook_url, bucket, admin_client
):
    from django.urls import reverse

    from documents.queueing import documents_retry

    status_path_set(source)
    good, missing = SimDocument(name="Letter", kind="docx"), SimDocument(name="Summary", kind="pdf")
    work_item = advance.add_work_item(documents=[good, missing])
    # Advance answers 404 for one document (a refusal: failed at once, no retry).
    advance.fail_next(1, 404, path_contains=f"/documents/{missing.id}/content")
    failed_before = metric(metric_samples(admin_client.get("/metrics").content.decode()), FAILED_METRIC)

    send(webhook_url, advance.event_payload(work_item, event_type="PostProcessingEvent"), token_key)
    wait_until_settled(2)

    def failed():
        version = WorkItemVersion.objects.get(advance_id=work_item.version_id)
        return version if version.post_processing_status == WorkItemVersion.PostProcessing.FAILED else None

    version = wait_for(failed, timeout=20, message="post-processing failed for its document")
    assert missing.id in version.post_processing_error
    assert "in progress" in version.post_processing_error
    assert advance.status_calls == []
    page = admin_client.get(reverse("admin:documents_workitemversion_change", args=[version.pk])).content.decode()
    assert missing.id in page
    samples = metric_samples(admin_client.get("/metrics").content.decode())
    assert metric(samples, FAILED_METRIC) == failed_before + 1

    # The operator retries the document; once it is stored the status call is made after all.
    assert documents_retry(documents=Document.objects.filter(advance_id=missing.id)) == 1
    version = version_settled(work_item.version_id, WorkItemVersion.PostProcessing.COMPLETED)

    assert {d.status for d in version.documents.all()} == {Document.Status.STORED}
    assert bucket.get(version.documents.get(advance_id=missing.id).storage_key)["Body"].read() == document_bytes(
        missing
    )
    [call] = advance.status_calls
    assert (call.work_item_id, call.version_id) == (work_item.id, work_item.version_id)
    assert version.post_processing_error == ""

"""The records lock over the real stack: a webhook over HTTP, a real worker writing to a bucket with
Object Lock (moto_server's), the stored objects asked what they report."""

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

from advance_sim import SimDocument
from documents.holds import work_item_hold
from documents.models import Document
from documents.retention import source_retention_set
from sources.models import SourceSync
from tests.factories import send
from tests.support.waiting import wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_sources_documents_are_stored_retained_and_a_held_work_items_later_ones_held(
    started, locked_bucket, advance, source, token_key, webhook_url
):
    started(AWS_STORAGE_BUCKET_NAME=locked_bucket.name)
    source_retention_set(source=source, mode="compliance", days=7)
    work_item = advance.add_work_item(documents=[SimDocument(kind="docx"), SimDocument(name="Invoice", kind="pdf")])

    assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    documents = wait_until_settled(2)

    assert [d.status for d in documents] == [Document.Status.STORED] * 2, [d.last_error for d in documents]
    for document in documents:
        head = locked_bucket.client.head_object(
            Bucket=locked_bucket.name, Key=document.storage_key, VersionId=document.storage_version_id
        )
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > timezone.now() + timedelta(days=6, hours=23)
        assert document.retention_mode == "compliance"
        assert document.retain_until == head["ObjectLockRetainUntilDate"]
        with pytest.raises(ClientError) as refused:
            locked_bucket.client.delete_object(
                Bucket=locked_bucket.name, Key=document.storage_key, VersionId=document.storage_version_id
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"

    # Held, then a new version completes: its documents are written held.
    work_item_hold(work_item=documents[0].version.work_item, actor=None, reason="Litigation", via="test")
    version_id = advance.new_version(work_item)
    assert send(webhook_url, advance.event_payload(work_item, version_id=version_id), token_key).status_code == 202
    later = [d for d in wait_until_settled(4) if d.version.advance_id == version_id]

    assert [d.status for d in later] == [Document.Status.STORED] * 2, [d.last_error for d in later]
    for document in later + documents:
        head = locked_bucket.client.head_object(Bucket=locked_bucket.name, Key=document.storage_key)
        assert head.get("ObjectLockLegalHoldStatus") == "ON"


def test_a_sync_into_a_bucket_without_object_lock_fails_and_stores_nothing(
    started, bucket, advance, source, token_key, webhook_url
):
    # The retention was set while the bucket could lock; the deployment's bucket cannot now.
    SourceSync.objects.create(source=source, retention_mode="governance", retention_days=3)
    started()
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])

    assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    [document] = wait_until_settled(1)

    assert document.status == Document.Status.FAILED
    assert "refused to lock" in document.last_error
    assert bucket.keys() == []

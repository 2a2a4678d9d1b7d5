"""An archive nobody can alter: a source's retention and a work item's legal hold (S3 Object Lock,
against moto_server's), through the services, the admin over HTTP and the commands."""

import hashlib
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import ChangeRecord
from documents.holds import HoldRefused, work_item_hold, work_item_hold_release
from documents.models import Document, WorkItem, WorkItemHold
from documents.object_lock import RetentionNotReported, object_lock_verify
from documents.retention import RetentionRefused, document_object_lock, source_retention_set
from documents.storage import ObjectLock, ObjectLockUnavailable, object_save_stream
from sources.models import SourceSync
from tests.factories import PDF_BYTES, delivery_make, document_make
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def retained(days: int = 1, mode: str = "COMPLIANCE") -> ObjectLock:
    until = (timezone.now() + timedelta(days=days)).replace(microsecond=0)
    return ObjectLock(mode=mode, retain_until=until)


# Writing and checking -------------------------------------------------------------------


def test_an_object_written_with_a_retention_reports_it_and_cannot_be_deleted(locked_bucket):
    lock = retained(days=3, mode="GOVERNANCE")

    stored = object_save_stream(
        key="advance/a/w/v/d/x.pdf", chunks=[PDF_BYTES], content_type="application/pdf", lock=lock
    )
    report = object_lock_verify(key=stored.key, version_id=stored.version_id, lock=lock)

    head = locked_bucket.client.head_object(Bucket=locked_bucket.name, Key=stored.key, VersionId=stored.version_id)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == lock.retain_until
    assert report.retain_until == lock.retain_until and report.version_id == stored.version_id
    with pytest.raises(ClientError) as refused:
        locked_bucket.client.delete_object(Bucket=locked_bucket.name, Key=stored.key, VersionId=stored.version_id)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert locked_bucket.versions(stored.key) == [stored.version_id]


def test_a_multipart_upload_is_stored_with_its_retention_and_legal_hold(locked_bucket):
    # moto's multipart upload drops the lock headers of its creation (AWS and MinIO keep them): the
    # check after the write puts the lock on the very version written, and asks again.
    chunks = [bytes([n]) * (1024 * 1024) for n in range(11)]
    lock = ObjectLock(mode="COMPLIANCE", retain_until=retained().retain_until, legal_hold=True)

    stored = object_save_stream(
        key="advance/a/w/v/d/big.pdf", chunks=iter(chunks), content_type="application/pdf", lock=lock
    )
    report = object_lock_verify(key=stored.key, version_id=stored.version_id, lock=lock)

    head = locked_bucket.client.head_object(Bucket=locked_bucket.name, Key=stored.key)
    assert head["ETag"].strip('"').endswith("-3")  # multipart indeed
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    assert head["ObjectLockRetainUntilDate"] >= lock.retain_until
    assert report.version_id == head["VersionId"]


def test_storage_that_cannot_lock_writes_nothing(filesystem_storage):
    with pytest.raises(ObjectLockUnavailable):
        object_save_stream(key="advance/a/w/v/d/x.pdf", chunks=[b"x"], content_type="application/pdf", lock=retained())

    assert not any(filesystem_storage.rglob("x.pdf"))


def test_a_bucket_without_object_lock_refuses_a_locked_write(bucket):
    with pytest.raises(ObjectLockUnavailable):
        object_save_stream(key="advance/a/w/v/d/x.pdf", chunks=[b"x"], content_type="application/pdf", lock=retained())

    assert bucket.keys() == []


def test_an_object_that_does_not_report_its_lock_is_not_a_stored_document(bucket):
    # Written unlocked to a bucket without Object Lock: the check asks for the lock, which is refused.
    stored = object_save_stream(key="advance/a/w/v/d/x.pdf", chunks=[b"x"], content_type="application/pdf")

    with pytest.raises(RetentionNotReported):
        object_lock_verify(key=stored.key, version_id=stored.version_id, lock=retained())


def test_a_new_object_gets_its_sources_retention_and_its_work_items_hold(locked_bucket, source):
    document = document_make(source, status=Document.Status.PENDING)
    assert document_object_lock(document=document) is None

    source_retention_set(source=source, mode="compliance", days=30)
    WorkItem.objects.filter(pk=document.version.work_item_id).update(legal_hold=True)
    lock = document_object_lock(document=document)

    assert lock.mode == "COMPLIANCE" and lock.legal_hold
    assert timedelta(days=30) - timedelta(seconds=5) < lock.retain_until - timezone.now() <= timedelta(days=30)


# The retention setting --------------------------------------------------------------------


def test_retention_is_refused_for_a_bucket_without_object_lock(bucket, source):
    with pytest.raises(RetentionRefused, match="has no Object Lock"):
        source_retention_set(source=source, mode="governance", days=10)
    with pytest.raises(CommandError, match="has no Object Lock"):
        call_command("source_retention_set", "acme", "--mode", "governance", "--days", "10")

    assert not SourceSync.objects.filter(source=source).exclude(retention_mode="").exists()


def test_retention_is_refused_on_embedded_storage(filesystem_storage, source):
    with pytest.raises(CommandError, match="local filesystem.*cannot lock"):
        call_command("source_retention_set", "acme", "--mode", "compliance", "--days", "10")

    assert not SourceSync.objects.filter(source=source).exclude(retention_mode="").exists()


def test_the_sync_settings_page_says_embedded_storage_cannot_lock_and_refuses_the_setting(
    admin_client, filesystem_storage, source
):
    sync = SourceSync.objects.create(source=source)
    url = reverse("admin:sources_sourcesync_change", args=[sync.pk])

    page = admin_client.get(url)
    response = admin_client.post(url, sync_settings_form(retention_mode="compliance", retention_days="10"))

    assert "cannot lock objects" in page.content.decode()
    assert response.status_code == 200  # the form again, with the reason
    assert "cannot lock objects" in response.content.decode()
    sync.refresh_from_db()
    assert (sync.retention_mode, sync.retention_days) == ("", None)


def test_the_sync_settings_page_sets_the_retention_where_the_bucket_locks(admin_client, locked_bucket, source):
    sync = SourceSync.objects.create(source=source)
    url = reverse("admin:sources_sourcesync_change", args=[sync.pk])

    response = admin_client.post(url, sync_settings_form(retention_mode="governance", retention_days="90"))

    assert response.status_code == 302
    sync.refresh_from_db()
    assert (sync.retention_mode, sync.retention_days) == ("governance", 90)
    assert sync.retention_changed_at is not None
    # Set, the settings cannot be deleted: that would turn the retention off behind its service's back.
    assert admin_client.get(reverse("admin:sources_sourcesync_delete", args=[sync.pk])).status_code == 403


def test_the_command_sets_and_turns_off_the_retention(locked_bucket, source, capsys):
    call_command("source_retention_set", "acme", "--mode", "compliance", "--days", "365")
    call_command("source_retention_set", "acme", "--off")

    out = capsys.readouterr().out
    assert "Retention set for acme: Compliance for 365 days" in out
    assert "Retention off for acme" in out
    assert SourceSync.objects.get(source=source).retention_mode == ""
    audited = ChangeRecord.objects.filter(action__startswith="retention").order_by("pk")
    assert [(r.username, r.action, r.after) for r in audited] == [
        ("", "retention set", {"retention_mode": "compliance", "retention_days": 365}),
        ("", "retention off", {"retention_mode": "", "retention_days": None}),
    ]


@pytest.mark.parametrize(
    "arguments",
    [["--mode", "compliance"], ["--days", "3"], ["--off", "--days", "3"], ["--mode", "governance", "--days", "0"]],
)
def test_the_command_refuses_incomplete_settings(locked_bucket, source, arguments):
    with pytest.raises(CommandError):
        call_command("source_retention_set", "acme", *arguments)

    assert not SourceSync.objects.filter(source=source).exclude(retention_mode="").exists()


def test_readiness_says_so_when_a_source_has_retention_and_the_bucket_cannot_lock(client, bucket, source):
    # Set while the bucket could lock; the deployment's bucket was replaced by one without Object Lock since.
    SourceSync.objects.create(source=source, retention_mode="compliance", retention_days=10)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["object_lock"] == "failed: ObjectLockMissing"


def test_readiness_is_ok_with_a_retention_on_a_bucket_that_locks(client, locked_bucket, source):
    SourceSync.objects.create(source=source, retention_mode="compliance", retention_days=10)

    response = client.get("/readyz")

    assert response.json()["checks"]["object_lock"] == "ok"


# Legal holds -----------------------------------------------------------------------------


def two_versions_stored(source) -> tuple[WorkItem, list[Document]]:
    documents = [
        document_make(source, version_id="v-1", document_id="d-1", content=b"first version"),
        document_make(source, version_id="v-2", document_id="d-1", content=b"second version"),
        document_make(source, version_id="v-2", document_id="d-2", name="Annex", content=b"annex"),
    ]
    return documents[0].version.work_item, documents


def legal_holds(bucket, documents: list[Document]) -> list[str]:
    heads = [bucket.client.head_object(Bucket=bucket.name, Key=d.storage_key) for d in documents]
    return [head.get("ObjectLockLegalHoldStatus", "OFF") for head in heads]


def test_the_admin_puts_a_hold_with_a_reason_on_every_versions_object_and_lifts_it(admin_client, locked_bucket, source):
    work_item, documents = two_versions_stored(source)
    page = reverse("admin:documents_workitem_change", args=[work_item.pk])
    hold = reverse("admin:documents_workitem_hold", args=[work_item.pk])

    assert "Put a legal hold" in admin_client.get(page).content.decode()
    put = admin_client.post(hold, {"reason": "Litigation 2026-117"}, follow=True)

    assert legal_holds(locked_bucket, documents) == ["ON", "ON", "ON"]
    assert "Legal hold put on 3 stored objects." in put.content.decode()
    assert "Litigation 2026-117" in put.content.decode()  # the record, on the work item's page
    for document in documents:
        with pytest.raises(ClientError):
            locked_bucket.client.delete_object(
                Bucket=locked_bucket.name,
                Key=document.storage_key,
                VersionId=locked_bucket.versions(document.storage_key)[0],
            )

    lifted = admin_client.post(hold + "?release=1", {"reason": "Settled"}, follow=True)

    assert legal_holds(locked_bucket, documents) == ["OFF", "OFF", "OFF"]
    assert "Legal hold lifted from 3 stored objects." in lifted.content.decode()
    work_item.refresh_from_db()
    assert not work_item.legal_hold
    records = list(WorkItemHold.objects.filter(work_item=work_item).order_by("pk"))
    assert [(r.action, r.actor_name, r.reason, r.objects_done) for r in records] == [
        ("hold", "admin", "Litigation 2026-117", 3),
        ("release", "admin", "Settled", 3),
    ]
    # And in the audit log, which nobody can alter.
    audited = ChangeRecord.objects.filter(object_id=str(work_item.pk)).order_by("pk")
    assert [(r.username, r.action, r.after["reason"], r.after["objects"]) for r in audited] == [
        ("admin", "held", "Litigation 2026-117", 3),
        ("admin", "hold lifted", "Settled", 3),
    ]


def test_a_hold_without_a_reason_is_refused_and_changes_nothing(admin_client, locked_bucket, source):
    work_item, documents = two_versions_stored(source)

    response = admin_client.post(reverse("admin:documents_workitem_hold", args=[work_item.pk]), {"reason": "  "})

    assert response.status_code == 200
    assert "A legal hold needs a reason." in response.content.decode()
    assert legal_holds(locked_bucket, documents) == ["OFF", "OFF", "OFF"]
    assert not WorkItem.objects.get(pk=work_item.pk).legal_hold
    assert not WorkItemHold.objects.exists()


def test_a_hold_needs_its_own_permission(client, locked_bucket, source):
    work_item, documents = two_versions_stored(source)
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_workitem"))
    client.force_login(viewer)

    page = client.get(reverse("admin:documents_workitem_change", args=[work_item.pk]))
    refused = client.post(reverse("admin:documents_workitem_hold", args=[work_item.pk]), {"reason": "x"})
    missing = client.post(reverse("admin:documents_workitem_hold", args=[999999]), {"reason": "x"})

    assert page.status_code == 200 and "Put a legal hold" not in page.content.decode()
    assert (refused.status_code, missing.status_code) == (403, 403)
    assert legal_holds(locked_bucket, documents) == ["OFF", "OFF", "OFF"]

    viewer.user_permissions.add(Permission.objects.get(codename="hold_workitem"))
    viewer = get_user_model().objects.get(pk=viewer.pk)  # permissions are cached on the instance
    client.force_login(viewer)
    assert (
        client.post(reverse("admin:documents_workitem_hold", args=[work_item.pk]), {"reason": "x"}).status_code == 302
    )
    assert legal_holds(locked_bucket, documents) == ["ON", "ON", "ON"]


def test_a_hold_is_refused_where_storage_cannot_lock(bucket, source):
    work_item = document_make(source).version.work_item

    with pytest.raises(HoldRefused, match="has no Object Lock"):
        work_item_hold(work_item=work_item, actor=None, reason="x", via="test")

    assert not WorkItem.objects.get(pk=work_item.pk).legal_hold
    assert not WorkItemHold.objects.exists()


def test_the_command_puts_and_lifts_a_hold_and_refuses_what_it_cannot_do(locked_bucket, source, capsys):
    work_item, documents = two_versions_stored(source)

    with pytest.raises(CommandError, match="not under a legal hold"):
        call_command("work_item_hold", "acme", "wi-1", "--release")
    with pytest.raises(CommandError, match="needs a reason"):
        call_command("work_item_hold", "acme", "wi-1")
    with pytest.raises(CommandError, match="No work item"):
        call_command("work_item_hold", "acme", "nope", "--reason", "x")
    assert not WorkItemHold.objects.exists()

    call_command("work_item_hold", "acme", "wi-1", "--reason", "Audit request 7")
    assert legal_holds(locked_bucket, documents) == ["ON", "ON", "ON"]
    call_command("work_item_hold", "acme", "wi-1", "--release")
    assert legal_holds(locked_bucket, documents) == ["OFF", "OFF", "OFF"]

    out = capsys.readouterr().out
    assert "Legal hold put on 3 stored objects of work item wi-1 (acme)." in out
    assert "Legal hold lifted from 3 stored objects of work item wi-1 (acme)." in out
    assert WorkItemHold.objects.filter(actor_name__startswith="manage.py work_item_hold").count() == 2


# While locked: no delete, no overwrite, no pruning ---------------------------------------------


def test_a_source_with_held_or_retained_documents_offers_no_delete_and_says_why(admin_client, locked_bucket, source):
    work_item, _ = two_versions_stored(source)
    work_item_hold(work_item=work_item, actor=None, reason="Litigation", via="test")

    page = admin_client.get(reverse("admin:sources_source_change", args=[source.pk])).content.decode()
    delete = admin_client.get(reverse("admin:sources_source_delete", args=[source.pk]))
    bulk = admin_client.post(
        reverse("admin:sources_source_changelist"), {"action": "delete_selected", "_selected_action": [source.pk]}
    )

    assert "Under a legal hold" in page and "This source cannot be deleted." in page
    assert delete.status_code == 403
    assert "its stored documents are retained or under a legal hold" in bulk.content.decode()
    assert reverse("admin:sources_source_delete", args=[source.pk]) not in page

    work_item_hold_release(work_item=work_item, actor=None, via="test")
    assert admin_client.get(reverse("admin:sources_source_delete", args=[source.pk])).status_code == 200


def test_a_retained_documents_page_shows_its_retention_and_offers_no_delete(admin_client, source):
    until = timezone.now() + timedelta(days=10)
    document = document_make(source, retention_mode="compliance", retain_until=until)

    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()

    assert f"Retained (compliance) until {until:%Y-%m-%d %H:%M}." in page
    assert "there is no delete here" in page
    assert admin_client.get(reverse("admin:documents_document_delete", args=[document.pk])).status_code == 403
    for name in ("workitem", "workitemversion"):
        model_id = document.version.work_item_id if name == "workitem" else document.version_id
        assert admin_client.get(reverse(f"admin:documents_{name}_delete", args=[model_id])).status_code == 403


def test_resync_of_a_retained_document_verifies_its_bytes_instead_of_writing(locked_bucket, source, capsys):
    lock = retained(days=5)
    key = "advance/acme/wi-1/v-1/doc-1/Example Contract.pdf"
    stored = object_save_stream(key=key, chunks=[PDF_BYTES], content_type="application/pdf", lock=lock)
    document = document_make(
        source,
        storage_key=key,
        storage_version_id=stored.version_id,
        sha256=stored.sha256,
        retention_mode="compliance",
        retain_until=lock.retain_until,
    )
    unlocked = document_make(source, document_id="doc-2")  # stored before any retention: resynced as before

    call_command("resync", "--work-item", "wi-1", "--include-stored", "--no-progress")

    out = capsys.readouterr().out
    assert "Queued 1 document again" in out
    assert "Verified 1 of 1 retained or held document" in out
    document.refresh_from_db()
    assert document.status == Document.Status.STORED  # not queued: nothing will write it
    assert Document.objects.get(pk=unlocked.pk).status == Document.Status.PENDING
    assert locked_bucket.versions(key) == [stored.version_id]


def test_resync_reports_a_retained_document_whose_bytes_differ_from_its_row(locked_bucket, source, capsys):
    key = "advance/acme/wi-1/v-1/doc-1/Example Contract.pdf"
    stored = object_save_stream(key=key, chunks=[PDF_BYTES], content_type="application/pdf", lock=retained())
    document_make(
        source,
        storage_key=key,
        storage_version_id=stored.version_id,
        sha256=hashlib.sha256(b"something else").hexdigest(),
        retain_until=timezone.now() + timedelta(days=1),
    )

    with pytest.raises(CommandError, match="1 retained or held document did not verify"):
        call_command("resync", "--work-item", "wi-1", "--include-stored", "--no-progress")

    assert f"mismatch: {key}" in capsys.readouterr().out
    assert locked_bucket.versions(key) == [stored.version_id]


def test_pruning_keeps_the_events_of_held_and_retained_work_items(source):
    old = timedelta(days=400)
    held = delivery_make(source, event_id="evt-held", age=old)
    kept = delivery_make(source, event_id="evt-retained", age=old)
    delivery_make(source, event_id="evt-plain", age=old)
    document_make(source, work_item_id="wi-held", delivery=held)
    WorkItem.objects.filter(advance_id="wi-held").update(legal_hold=True)
    document_make(source, work_item_id="wi-retained", delivery=kept, retain_until=timezone.now() + timedelta(days=9))

    call_command("prune_deliveries", "--older-than", "30")

    assert set(Delivery.objects.values_list("event_id", flat=True)) == {"evt-held", "evt-retained"}


def sync_settings_form(**overrides) -> dict:
    """The sync settings page's fields as posted, with the defaults."""
    return {
        "post_processing_status_path": "",
        "post_processing_status_method": "PUT",
        "post_processing_status_body": "",
        "documents_scope": "auto",
        "search_config": "",
        "retention_mode": "",
        "retention_days": "",
        "reconcile_interval_minutes": "15",
        "reconcile_query": "",
        "reconcile_watermark": "",
        **overrides,
    }

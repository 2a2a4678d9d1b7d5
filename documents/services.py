import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from webhooks.models import Delivery
from webhooks.registry import RetryableError
from webhooks.retry import MAX_RETRY_COUNTDOWN

from .advance import AdvanceClient, AdvanceError
from .events import advance_id_validator
from .models import Document, WorkItem, WorkItemVersion
from .storage import DocumentTooLarge, StoredObject, document_filename, object_save_stream

logger = logging.getLogger(__name__)

# A syncing worker renews its claim on a document every LEASE_RENEW; a worker that died stops
# renewing, and LEASE later the document can be taken by another.
LEASE = timedelta(seconds=60)
LEASE_RENEW_SECONDS = 20


class LeaseHeld(RetryableError):
    """Another worker is syncing this document now."""


# Recording an event's documents ----------------------------------------------------------


def event_documents_record(*, delivery: Delivery, payload: dict) -> None:
    """Record the event's work item, version and documents, and queue each document's sync.

    Safe to run again (a replay): rows are not duplicated and only documents not stored yet are
    queued; failed ones are given another chance.
    """
    data = payload["data"]
    source = delivery.source
    listed = data.get("documents") or []
    if not listed:
        # The event names no documents: ask Advance (network I/O, so before the transaction).
        listed = []
        for item in AdvanceClient(source).list_documents(data["workitemid"]):
            try:
                advance_id_validator(item["id"])
            except Exception:
                logger.warning("skipped a listed document with an invalid id: delivery=%s", delivery.pk)
                continue
            listed.append({"id": item["id"], "name": item["name"][:300], "url": ""})

    created_by = payload.get("createdby") or {}
    with transaction.atomic():
        work_item, created = WorkItem.objects.get_or_create(
            source=source, advance_id=data["workitemid"], defaults={"name": data.get("workitemname", "")}
        )
        if not created and data.get("workitemname") and work_item.name != data["workitemname"]:
            WorkItem.objects.filter(pk=work_item.pk).update(name=data["workitemname"], updated_at=timezone.now())
        version, _ = WorkItemVersion.objects.get_or_create(
            work_item=work_item,
            advance_id=data["workitemversionid"],
            defaults={
                "delivery": delivery,
                "completed_at": payload.get("createddate"),
                "created_by_id": created_by.get("id", ""),
                "created_by_login": created_by.get("loginname", ""),
                "created_by_account_type": created_by.get("accounttype", ""),
            },
        )
        Document.objects.bulk_create(
            [
                Document(
                    version=version, source=source, advance_id=item["id"],
                    name=item.get("name", ""), url=item.get("url", ""),
                )
                for item in listed
            ],
            ignore_conflicts=True,  # a replay, or two deliveries racing: the constraint keeps one row
        )
        Document.objects.filter(version=version, status__in=[Document.Status.FAILED, Document.Status.DEAD]).update(
            status=Document.Status.PENDING, last_error=""
        )
        documents_enqueue(Document.objects.filter(version=version, status=Document.Status.PENDING))
    logger.info("event recorded: delivery=%s version=%s documents=%s", delivery.pk, version.pk, len(listed))


def documents_enqueue(documents) -> int:
    """Mark the documents due now and queue their sync once the transaction commits."""
    ids = list(documents.values_list("pk", flat=True))
    Document.objects.filter(pk__in=ids).update(due_at=timezone.now())
    for document_id in ids:
        transaction.on_commit(partial(_document_sync_send, document_id), robust=True)
    return len(ids)


def _document_sync_send(document_id: int) -> None:
    from .tasks import document_sync  # the task module imports this one

    document_sync.delay(document_id)


# Syncing one document ----------------------------------------------------------------------


def document_storage_key(document: Document, filename: str) -> str:
    version = document.version
    return "/".join(
        [
            settings.DOCUMENTS_KEY_PREFIX,
            document.source.slug,
            version.work_item.advance_id,
            version.advance_id,
            document.advance_id,
            filename,
        ]
    )


def _document_claim(document_id: int) -> bool:
    now = timezone.now()
    claimable = Q(status=Document.Status.PENDING) | Q(status=Document.Status.SYNCING, lease_expires_at__lt=now)
    return bool(
        Document.objects.filter(claimable, pk=document_id).update(
            status=Document.Status.SYNCING, attempts=F("attempts") + 1, lease_expires_at=now + LEASE
        )
    )


@contextmanager
def _lease_kept(document_id: int) -> Iterator[None]:
    """Renew the document's lease in a thread of its own while the body runs."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(LEASE_RENEW_SECONDS):
                Document.objects.filter(pk=document_id, status=Document.Status.SYNCING).update(
                    lease_expires_at=timezone.now() + LEASE
                )
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=renew, name=f"lease-{document_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _download_and_store(document: Document) -> tuple[StoredObject, str, str]:
    client = AdvanceClient(document.source)
    url = document.url or client.content_url(document.version.work_item.advance_id, document.advance_id)
    with client.download(url) as download:
        if download.content_length is not None and download.content_length > settings.DOCUMENT_MAX_BYTES:
            raise DocumentTooLarge(
                f"the document is {download.content_length} bytes, over the limit of {settings.DOCUMENT_MAX_BYTES}"
            )
        content_type = download.content_type or "application/octet-stream"
        filename = document_filename(
            content_disposition=download.content_disposition, name=document.name, content_type=content_type
        )
        stored = object_save_stream(
            key=document_storage_key(document, filename), chunks=download.iter_bytes(), content_type=content_type
        )
    return stored, filename, content_type


def document_sync(*, document_id: int, final_attempt: bool = False) -> None:
    """Stream one document from Advance into storage. Safe to run twice, and concurrently.

    Permanent refusals fail the document at once. A RetryableError puts it back to pending and
    is raised again for the task to retry, or on the final attempt makes it dead.
    """
    if not _document_claim(document_id):
        document = Document.objects.filter(pk=document_id).only("status", "lease_expires_at").first()
        if document is None or document.status != Document.Status.SYNCING:
            return  # stored, failed, dead or gone: nothing to do
        wait = (document.lease_expires_at - timezone.now()).total_seconds() + 1
        raise LeaseHeld("another worker is syncing this document", retry_after=max(wait, 1))

    document = Document.objects.select_related("version__work_item", "source").get(pk=document_id)
    started = timezone.now()
    try:
        with _lease_kept(document_id):
            stored, filename, content_type = _download_and_store(document)
    except (AdvanceError, DocumentTooLarge) as error:
        _document_finish(document_id, Document.Status.FAILED, str(error))
        logger.warning("document failed: document=%s reason=%s", document_id, error)
        return
    except Exception as error:
        # Anything unforeseen is retried too, and ends as dead with its reason rather than stuck.
        if not isinstance(error, RetryableError):
            logger.exception("unexpected error syncing document=%s", document_id)
            error = RetryableError(f"{type(error).__name__}: {error}")
        if final_attempt:
            _document_finish(document_id, Document.Status.DEAD, f"gave up after {document.attempts} attempts: {error}")
            logger.error("document dead: document=%s reason=%s", document_id, error)
        else:
            # The sweep leaves it alone until the task's own retry is due.
            Document.objects.filter(pk=document_id, status=Document.Status.SYNCING).update(
                status=Document.Status.PENDING, last_error=str(error), lease_expires_at=None,
                due_at=timezone.now() + timedelta(seconds=MAX_RETRY_COUNTDOWN),
            )
            logger.warning("document sync will be retried: document=%s error=%s", document_id, error)
        raise error

    Document.objects.filter(pk=document_id).exclude(status=Document.Status.STORED).update(
        status=Document.Status.STORED,
        filename=filename,
        content_type=content_type[:255],
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        last_error="",
        lease_expires_at=None,
        synced_at=timezone.now(),
    )
    logger.info(
        "document stored: document=%s bytes=%s seconds=%.2f",
        document_id, stored.size, (timezone.now() - started).total_seconds(),
    )


def _document_finish(document_id: int, status: str, reason: str) -> None:
    Document.objects.filter(pk=document_id).exclude(status=Document.Status.STORED).update(
        status=status, last_error=reason, lease_expires_at=None
    )


def documents_retry(*, documents) -> int:
    """Queue the failed or dead documents among these again; return how many."""
    with transaction.atomic():
        retry = documents.filter(status__in=[Document.Status.FAILED, Document.Status.DEAD])
        ids = list(retry.values_list("pk", flat=True))
        Document.objects.filter(pk__in=ids).update(status=Document.Status.PENDING, last_error="")
        return documents_enqueue(Document.objects.filter(pk__in=ids))


def documents_requeue_stalled() -> int:
    """Queue again the documents whose sync never started, or whose worker stopped renewing its lease."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    stalled = Document.objects.filter(
        Q(status=Document.Status.PENDING) & (Q(due_at__lt=cutoff) | Q(due_at__isnull=True, created_at__lt=cutoff))
        | Q(status=Document.Status.SYNCING, lease_expires_at__lt=now)
    )
    with transaction.atomic():
        count = documents_enqueue(stalled.order_by("pk")[:1000])
    if count:
        logger.warning("re-queued %s stalled documents", count)
    return count

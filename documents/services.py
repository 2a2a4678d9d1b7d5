import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config import metrics
from webhooks.models import Delivery, Source
from webhooks.registry import RetryableError
from webhooks.retry import DUE_SLACK, retry_countdown

from .advance import AdvanceClient, AdvanceError
from .events import advance_id_validator
from .models import Document, DocumentAttempt, SourceSync, WorkItem, WorkItemVersion
from .search.services import document_text_queue
from .storage import DocumentTooLarge, StoredObject, document_filename, object_save_stream

logger = logging.getLogger(__name__)

# A syncing worker holds a lease on its document (settings.DOCUMENT_LEASE_SECONDS) and renews it
# every third of that; a worker that died stops renewing, and once the lease lapses the document
# is taken over by another attempt.


class LeaseHeld(RetryableError):
    """Another worker is syncing this document now."""


# Recording an event's documents ----------------------------------------------------------


def event_documents_record(*, delivery: Delivery, payload: dict) -> WorkItemVersion:
    """Record the event's work item, version and documents, and queue each document's sync.

    Safe to run again (a replay): rows are not duplicated and only documents not stored yet are
    queued; failed ones are given another chance.
    """
    return version_documents_record(source=delivery.source, delivery=delivery, payload=payload)


def version_documents_record(
    *,
    source: Source,
    payload: dict,
    delivery: Delivery | None = None,
    recorded_by: str = WorkItemVersion.RecordedBy.WEBHOOK,
    post_processing: bool = False,
    fetchable: bool = True,
) -> WorkItemVersion:
    """Record a work item version and its documents (from an event, or found by reconciliation); queue their sync.

    The one recording path: an event and a reconciliation of the same version meet on the same
    rows (one version per work item and id, one document per version and id), so whichever comes
    second records nothing new and downloads nothing again. Not fetchable: recorded without
    documents, none listed (the only list would be another version's).
    """
    data = payload["data"]
    listed = data.get("documents") or []
    documents_from = WorkItemVersion.DocumentsFrom.EVENT
    if not fetchable:
        listed, documents_from = [], WorkItemVersion.DocumentsFrom.NOT_FETCHABLE
    elif not listed:
        # The event names no documents: ask Advance (network I/O, so before the transaction).
        listed, documents_from = _documents_list(source, data["workitemid"], data["workitemversionid"], delivery)

    created_by = payload.get("createdby") or {}
    with transaction.atomic():
        work_item, created = WorkItem.objects.get_or_create(
            source=source, advance_id=data["workitemid"], defaults={"name": data.get("workitemname", "")}
        )
        if not created and data.get("workitemname") and work_item.name != data["workitemname"]:
            WorkItem.objects.filter(pk=work_item.pk).update(name=data["workitemname"], updated_at=timezone.now())
        version, version_created = WorkItemVersion.objects.get_or_create(
            work_item=work_item,
            advance_id=data["workitemversionid"],
            defaults={
                "delivery": delivery,
                "completed_at": payload.get("createddate"),
                "created_by_id": created_by.get("id", ""),
                "created_by_login": created_by.get("loginname", ""),
                "created_by_account_type": created_by.get("accounttype", ""),
                "recorded_by": recorded_by,
                "documents_from": documents_from,
            },
        )
        if not version_created and delivery is not None and version.delivery_id is None:
            # Reconciled first, announced later: the event becomes the version's provenance.
            WorkItemVersion.objects.filter(pk=version.pk, delivery__isnull=True).update(delivery=delivery)
        if post_processing:
            # A version completed once stays completed: a re-delivered event does not undo it.
            none = WorkItemVersion.PostProcessing.NONE
            WorkItemVersion.objects.filter(pk=version.pk, post_processing_status=none).update(
                post_processing_status=WorkItemVersion.PostProcessing.PENDING
            )
        Document.objects.bulk_create(
            [
                Document(
                    version=version,
                    source=source,
                    advance_id=item["id"],
                    name=item.get("name", ""),
                    url=item.get("url", ""),
                )
                for item in listed
            ],
            ignore_conflicts=True,  # a replay, or two deliveries racing: the constraint keeps one row
        )
        Document.objects.filter(version=version, status__in=[Document.Status.FAILED, Document.Status.DEAD]).update(
            status=Document.Status.PENDING, last_error=""
        )
        documents_enqueue(Document.objects.filter(version=version, status=Document.Status.PENDING))
        if post_processing:
            version_pk = version.pk
            transaction.on_commit(lambda: version_post_processing_check(version_id=version_pk), robust=True)
    logger.info(
        "version recorded: delivery=%s version=%s documents=%s by=%s",
        delivery.pk if delivery else None,
        version.pk,
        len(listed),
        recorded_by,
    )
    return version


def _documents_list(
    source: Source, work_item_id: str, version_id: str, delivery: Delivery | None
) -> tuple[list[dict], str]:
    """The version's documents from Advance's list calls, and which list they came from.

    The version's own list where the API has it (v2.0), else the work item's latest list, whose
    documents may belong to a later version. Never the one after the other: a 404 from the
    version's own list may mean the version is gone (Advance keeps five), and the latest list
    would then store another version's documents under this one's name.
    """
    client = AdvanceClient(source)
    try:
        if source_documents_scope(source=source) == SourceSync.DocumentsScope.VERSION:
            found = client.list_version_documents(work_item_id, version_id)
            documents_from = WorkItemVersion.DocumentsFrom.VERSION
        else:
            found = client.list_documents(work_item_id)
            documents_from = WorkItemVersion.DocumentsFrom.LATEST
    except AdvanceError as error:
        # Refused for good (404, another origin): the intake fails the event on a ValueError
        # (and retries a RetryableError); anything else would leave it accepted, re-queued forever.
        raise ValueError(f"the work item's documents could not be listed: {error}") from error
    listed = []
    for item in found:
        try:
            advance_id_validator(item["id"])
        except Exception:
            logger.warning(
                "skipped a listed document with an invalid id: delivery=%s", delivery.pk if delivery else None
            )
            continue
        listed.append({"id": item["id"], "name": item["name"][:300], "url": item.get("url", "")})
    return listed, documents_from


API_VERSION = re.compile(r"/v(\d+)(?:\.\d+)?(?:/|$)", re.IGNORECASE)


def source_documents_scope(*, source: Source) -> str:
    """VERSION or LATEST: the source's setting, or for AUTO the major version in its API base URL (v2 and later)."""
    scope = source_sync_get(source=source).documents_scope
    if scope != SourceSync.DocumentsScope.AUTO:
        return scope
    match = API_VERSION.search(urlsplit(source.api_base_url).path)
    return SourceSync.DocumentsScope.VERSION if match and int(match[1]) >= 2 else SourceSync.DocumentsScope.LATEST


def source_sync_get(*, source: Source) -> SourceSync:
    """The source's sync settings, created with the defaults on first use."""
    sync, _ = SourceSync.objects.get_or_create(source=source)
    return sync


# Post-assembly processing ------------------------------------------------------------------


# A version waiting for its documents, or failed for them (the status call was never tried): a
# document of it that settles (stored, or failed again) decides its post-processing anew.
POST_PROCESSING_WAITING = Q(post_processing_status=WorkItemVersion.PostProcessing.PENDING) | Q(
    post_processing_status=WorkItemVersion.PostProcessing.FAILED, post_processing_attempts=0
)


def version_post_processing_check(*, version_id: int) -> bool:
    """Queue the post-assembly processing status call once every document of the version is stored.

    Once none is pending or syncing but some failed or died, the version fails with the reason
    (Advance keeps showing it in progress); a document retried and stored later reopens it.
    A conditional UPDATE lets exactly one caller through, however many documents finish at once.
    Returns whether this call queued it.
    """
    documents = Document.objects.filter(version_id=version_id)
    if documents.filter(status__in=[Document.Status.PENDING, Document.Status.SYNCING]).exists():
        return False
    failed = list(
        documents.filter(status__in=[Document.Status.FAILED, Document.Status.DEAD])
        .order_by("pk")
        .values_list("advance_id", "last_error")
    )
    if failed:
        _post_processing_documents_failed(version_id, failed)
        return False
    with transaction.atomic():
        taken = WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=version_id).update(
            post_processing_status=WorkItemVersion.PostProcessing.COMPLETING,
            post_processing_error="",
            post_processing_due_at=timezone.now(),
        )
        if taken:
            _post_processing_send(version_id)
    return bool(taken)


def _post_processing_documents_failed(version_id: int, failed: list[tuple[str, str]]) -> None:
    advance_id, error = failed[0]
    reason = (
        f"{len(failed)} document(s) not stored, so the status call was not sent and the work item stays "
        f"'in progress' in Advance; retry the documents to complete it. First: {advance_id}: {error}"
    )[:2000]
    waiting = WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=version_id)
    # Counted and logged once, when the version stops waiting; a later failure only updates the reason.
    if waiting.filter(post_processing_status=WorkItemVersion.PostProcessing.PENDING).update(
        post_processing_status=WorkItemVersion.PostProcessing.FAILED, post_processing_error=reason
    ):
        metrics.POST_PROCESSING_FAILED.inc()
        logger.warning("post-processing failed for its documents: version=%s failed=%s", version_id, len(failed))
    else:
        waiting.update(post_processing_error=reason)


def _version_documents_settled(version_id: int) -> None:
    """A document of the version was stored or failed for good: decide its post-processing if it waits."""
    if WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=version_id).exists():
        version_post_processing_check(version_id=version_id)


def _post_processing_send(version_id: int) -> None:
    from .tasks import version_post_processing_complete  # the task module imports this one

    def send() -> None:
        version_post_processing_complete.delay(version_id)

    transaction.on_commit(send, robust=True)  # a lost message is found again by the sweep (due_at)


def versions_post_processing_requeue_stalled() -> int:
    """Queue again the status calls whose due time passed long ago (their message was lost); return how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    stalled = WorkItemVersion.objects.filter(
        post_processing_status=WorkItemVersion.PostProcessing.COMPLETING, post_processing_due_at__lt=cutoff
    )
    with transaction.atomic():
        ids = list(stalled.order_by("pk").values_list("pk", flat=True)[:1000])
        WorkItemVersion.objects.filter(pk__in=ids).update(post_processing_due_at=timezone.now())
        for version_id in ids:
            _post_processing_send(version_id)
    if ids:
        logger.warning("re-queued %s stalled post-processing status calls", len(ids))
    return len(ids)


def version_post_processing_complete(*, version_id: int, retries: int = 0, final_attempt: bool = False) -> None:
    """Tell Advance the version's post-assembly processing is Complete. Safe to run twice.

    Transient failures raise RetryScheduled with the backoff for this many retries (written as
    the version's due time); a refusal, a missing setting or the last attempt's failure leaves
    the version failed with the reason.
    """
    if not _post_processing_claim(version_id):
        return  # completed, failed, gone, or another message's call runs now (or waits out its backoff)
    version = WorkItemVersion.objects.select_related("work_item__source").get(pk=version_id)
    source = version.work_item.source
    sync = source_sync_get(source=source)
    if not sync.post_processing_status_path:
        _post_processing_end(
            version_id,
            WorkItemVersion.PostProcessing.FAILED,
            "no post-assembly processing status call is configured for the source: the work item stays "
            "'in progress' in Advance",
        )
        return
    names = {"workItemId": quote(version.work_item.advance_id), "versionId": quote(version.advance_id)}
    path = sync.post_processing_status_path
    body = sync.post_processing_status_body
    for name, value in names.items():
        path = path.replace("{" + name + "}", value)
        body = body.replace("{" + name + "}", value)
    try:
        status = AdvanceClient(source).send_json(
            sync.post_processing_status_method, path, body.encode() if body.strip() else None
        )
    except AdvanceError as error:
        _post_processing_end(version_id, WorkItemVersion.PostProcessing.FAILED, str(error))
        return
    except RetryableError as error:
        if final_attempt:
            _post_processing_end(version_id, WorkItemVersion.PostProcessing.FAILED, f"gave up: {error}")
            return
        countdown = retry_countdown(retries, error.retry_after)
        WorkItemVersion.objects.filter(pk=version_id).update(
            post_processing_error=f"will be retried: {error}",
            post_processing_due_at=timezone.now() + timedelta(seconds=countdown),
        )
        logger.warning(
            "post-processing status will be retried: version=%s in=%.1fs error=%s", version_id, countdown, error
        )
        raise RetryScheduled(str(error), retry_after=countdown) from error
    _post_processing_end(version_id, WorkItemVersion.PostProcessing.COMPLETED, "")
    logger.info("post-processing status completed: version=%s status=%s", version_id, status)


def _post_processing_claim(version_id: int) -> bool:
    """Take the version's status call for this message; False when it is not this message's to make.

    A duplicate message (the sweep's, or a redelivery) may run at the same moment: the due time,
    pushed past the longest the call can take, lets exactly one through, and keeps the sweep off
    it while it runs. A retry's message comes when its due time is reached.
    """
    now = timezone.now()
    # Up to two log-ins and two requests (one re-log-in on 401), each bounded by both timeouts.
    call_time = 4 * (settings.ADVANCE_CONNECT_TIMEOUT + settings.ADVANCE_READ_TIMEOUT)
    return bool(
        WorkItemVersion.objects.filter(
            pk=version_id,
            post_processing_status=WorkItemVersion.PostProcessing.COMPLETING,
            post_processing_due_at__lte=now + DUE_SLACK,
        ).update(
            post_processing_due_at=now + timedelta(seconds=2 * call_time),
            post_processing_attempts=F("post_processing_attempts") + 1,
        )
    )


def _post_processing_end(version_id: int, status: str, error: str) -> None:
    completed = status == WorkItemVersion.PostProcessing.COMPLETED
    WorkItemVersion.objects.filter(pk=version_id).update(
        post_processing_status=status,
        post_processing_error=error,
        post_processing_completed_at=timezone.now() if completed else None,
    )
    if completed:
        metrics.POST_PROCESSING_COMPLETED.inc()
    else:
        metrics.POST_PROCESSING_FAILED.inc()
        logger.warning("post-processing status failed: version=%s reason=%s", version_id, error)


def versions_post_processing_retry(*, versions) -> int:
    """Try the post-assembly processing status call again for these failed versions; return how many."""
    failed = versions.filter(post_processing_status=WorkItemVersion.PostProcessing.FAILED)
    ids = list(failed.values_list("pk", flat=True))
    WorkItemVersion.objects.filter(pk__in=ids).update(post_processing_status=WorkItemVersion.PostProcessing.PENDING)
    return sum(version_post_processing_check(version_id=pk) for pk in ids)


def documents_enqueue(documents) -> int:
    """Mark the documents due now and queue their sync once the transaction commits.

    A broker outage is logged, not raised: the documents stay due, and the sweep queues them again.
    """
    ids = list(documents.values_list("pk", flat=True))
    Document.objects.filter(pk__in=ids).update(due_at=timezone.now())
    if ids:
        # A function, not functools.partial: when a robust on_commit callback fails, Django logs
        # its __qualname__, which a partial lacks, and the AttributeError escapes instead.
        def send() -> None:
            _document_syncs_send(ids)

        transaction.on_commit(send, robust=True)
    return len(ids)


def _document_syncs_send(ids: list[int]) -> None:
    from .tasks import document_sync  # the task module imports this one

    for sent, document_id in enumerate(ids):
        try:
            document_sync.delay(document_id)
        except Exception:
            # The broker is down: each further publish would only wait for its own timeout.
            logger.exception(
                "could not queue %s of %s documents (the sweep will): first=%s", len(ids) - sent, len(ids), document_id
            )
            return


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


@dataclass
class _Attempt:
    """The attempt running now: its history row, the token that fences its writes, what it saw."""

    pk: int
    token: uuid.UUID
    http_status: int | None = None
    bytes: int | None = None


class LeaseLost(RetryableError):
    """This attempt's lease lapsed and another attempt took the document over.

    A RetryableError only so that the storage layer lets it through unchanged; the document is
    the other attempt's now, and this one just stops.
    """


def _lease_length() -> timedelta:
    return timedelta(seconds=settings.DOCUMENT_LEASE_SECONDS)


def _document_claim(document: Document) -> _Attempt | None:
    """Take the document for one attempt (pending, or syncing under a lapsed lease); None when not ours.

    document is the row as read just before: the claim also requires its attempts count unchanged,
    so that what the read said about open attempts still holds when the claim succeeds.
    """
    now = timezone.now()
    token = uuid.uuid4()
    # A pending document waiting out a backoff is not taken by a stale duplicate message early:
    # its own retry message comes when due (and the sweep, should that one be lost).
    due = Q(due_at__isnull=True) | Q(due_at__lte=now + DUE_SLACK)
    claimable = Q(due, status=Document.Status.PENDING) | Q(status=Document.Status.SYNCING, lease_expires_at__lt=now)
    with transaction.atomic():
        claimed = Document.objects.filter(claimable, pk=document.pk, attempts=document.attempts).update(
            status=Document.Status.SYNCING,
            attempts=F("attempts") + 1,
            lease_expires_at=now + _lease_length(),
            lease_token=token,
        )
        if not claimed:
            return None
        if document.status == Document.Status.SYNCING:
            # An attempt still open now lost its lease: its worker was killed, or stopped renewing.
            # Only a syncing document has one (every other status is written with its attempt's
            # end), and the unchanged attempts count says no claim came between the read and this.
            DocumentAttempt.objects.filter(document_id=document.pk, finished_at__isnull=True).update(
                outcome=DocumentAttempt.Outcome.RETRY,
                finished_at=now,
                error="abandoned: its worker stopped renewing the lease (killed or stuck); taken over",
            )
        row = DocumentAttempt.objects.create(document_id=document.pk, started_at=now)
    return _Attempt(pk=row.pk, token=token)


@contextmanager
def _lease_kept(document_id: int, token: uuid.UUID) -> Iterator[threading.Event]:
    """Renew the lease in a thread of its own while the body runs; yield an event set if it is lost."""
    stop = threading.Event()
    lost = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.DOCUMENT_LEASE_SECONDS / 3):
                try:
                    renewed = Document.objects.filter(pk=document_id, lease_token=token).update(
                        lease_expires_at=timezone.now() + _lease_length()
                    )
                except DatabaseError:
                    # A database blip: try again next time; one miss still leaves a third of the lease.
                    logger.warning("lease renewal failed: document=%s", document_id, exc_info=True)
                    connection.close()
                    continue
                if not renewed:
                    lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=renew, name=f"lease-{document_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


class SyncTimeExceeded(RetryableError):
    """The attempt ran past DOCUMENT_SYNC_TIME_LIMIT; it stops and is retried like a network failure."""


def _download_and_store(
    document: Document, attempt: _Attempt, lease_lost: threading.Event
) -> tuple[StoredObject, str, str]:
    deadline = time.monotonic() + settings.DOCUMENT_SYNC_TIME_LIMIT
    client = AdvanceClient(document.source)
    url = document.url or client.content_url(document.version.work_item.advance_id, document.advance_id)
    with client.download(url) as download:
        attempt.http_status, attempt.bytes = download.status_code, 0

        def chunks() -> Iterator[bytes]:
            for chunk in download.iter_bytes():
                attempt.bytes = download.bytes_read
                if lease_lost.is_set():
                    # Another attempt owns the document now: stop rather than upload it twice.
                    raise LeaseLost(f"the lease was lost after {download.bytes_read} bytes; another attempt took over")
                if time.monotonic() > deadline:
                    # The threads pool enforces no task time limit: a trickling download stops here.
                    raise SyncTimeExceeded(
                        f"the download took longer than {settings.DOCUMENT_SYNC_TIME_LIMIT} s"
                        f" ({download.bytes_read} bytes read)"
                    )
                yield chunk

        if download.content_length is not None and download.content_length > settings.DOCUMENT_MAX_BYTES:
            raise DocumentTooLarge(
                f"the document is {download.content_length} bytes, over the limit of {settings.DOCUMENT_MAX_BYTES}"
            )
        content_type = download.content_type or "application/octet-stream"
        filename = document_filename(
            content_disposition=download.content_disposition, name=document.name, content_type=content_type
        )
        try:
            stored = object_save_stream(
                key=document_storage_key(document, filename), chunks=chunks(), content_type=content_type
            )
        finally:
            attempt.bytes = download.bytes_read
    return stored, filename, content_type


class RetryScheduled(RetryableError):
    """The attempt failed for now; retry_after is the wait chosen, also written as the document's due_at."""


def document_sync(*, document_id: int, retries: int = 0, final_attempt: bool = False) -> None:
    """Stream one document from Advance into storage. Safe to run twice, and concurrently.

    Every attempt (not a no-op) leaves a DocumentAttempt row. Permanent refusals fail the document
    at once. Transient failures put it back to pending and raise RetryScheduled, whose retry_after
    is the backoff for this many retries (never below Retry-After); on the final attempt they make
    it dead. A lease held by a live attempt raises LeaseHeld with the wait until it lapses.
    """
    # Read first, claim second: the one read serves the claim and the download.
    document = Document.objects.select_related("version__work_item", "source").filter(pk=document_id).first()
    if document is None or document.status not in (Document.Status.PENDING, Document.Status.SYNCING):
        return  # stored, failed, dead or gone: a resync since this read queues a message of its own
    attempt = _document_claim(document)
    if attempt is None:
        document = Document.objects.filter(pk=document_id).only("status", "lease_expires_at").first()
        if document is None or document.status != Document.Status.SYNCING or document.lease_expires_at is None:
            return  # stored, failed, dead, gone, or pending and not due yet: nothing to do now
        wait = (document.lease_expires_at - timezone.now()).total_seconds() + 1
        raise LeaseHeld("another worker is syncing this document", retry_after=max(wait, 1))
    document.status, document.attempts = Document.Status.SYNCING, document.attempts + 1  # what the claim wrote

    started = timezone.now()
    try:
        with _lease_kept(document_id, attempt.token) as lease_lost:
            stored, filename, content_type = _download_and_store(document, attempt, lease_lost)
    except LeaseLost as error:
        _attempt_end(attempt, document_id, DocumentAttempt.Outcome.RETRY, str(error))
        logger.warning("document sync stopped: document=%s reason=%s", document_id, error)
        return
    except (AdvanceError, DocumentTooLarge) as error:
        attempt.http_status = getattr(error, "http_status", None) or attempt.http_status
        _attempt_end(
            attempt,
            document_id,
            DocumentAttempt.Outcome.FAILED,
            str(error),
            status=Document.Status.FAILED,
            last_error=str(error),
        )
        logger.warning("document failed: document=%s reason=%s", document_id, error)
        metrics.DOCUMENTS_FAILED.inc()
        _version_documents_settled(document.version_id)
        return
    except Exception as error:
        # Anything unforeseen is retried too, and ends as dead with its reason rather than stuck.
        if not isinstance(error, RetryableError):
            logger.exception("unexpected error syncing document=%s", document_id)
            error = RetryableError(f"{type(error).__name__}: {error}")
        attempt.http_status = getattr(error, "http_status", None) or attempt.http_status
        if final_attempt:
            reason = f"gave up after {document.attempts} attempts: {error}"
            _attempt_end(
                attempt,
                document_id,
                DocumentAttempt.Outcome.DEAD,
                reason,
                status=Document.Status.DEAD,
                last_error=reason,
            )
            logger.error("document dead: document=%s reason=%s", document_id, error)
            metrics.DOCUMENTS_DEAD.inc()
            _version_documents_settled(document.version_id)
            raise error
        countdown = retry_countdown(retries, error.retry_after)
        # due_at is when the retry should run: the sweep queues it again only if that passes unnoticed
        # (the retry message was lost with the broker).
        _attempt_end(
            attempt,
            document_id,
            DocumentAttempt.Outcome.RETRY,
            str(error),
            status=Document.Status.PENDING,
            last_error=str(error),
            due_at=timezone.now() + timedelta(seconds=countdown),
        )
        logger.warning("document sync will be retried: document=%s in=%.1fs error=%s", document_id, countdown, error)
        raise RetryScheduled(str(error), retry_after=countdown) from error

    stored_now = _attempt_end(
        attempt,
        document_id,
        DocumentAttempt.Outcome.STORED,
        status=Document.Status.STORED,
        filename=filename,
        content_type=content_type[:255],
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        last_error="",
        synced_at=timezone.now(),
    )
    if stored_now:
        metrics.document_stored(size=stored.size, recorded_at=document.created_at, started=started)
        document_text_queue(document_id=document_id)  # full-text search, on its own queue; never fails the sync
        # Read now, not from the row loaded before the download: a PostProcessingEvent may have come meanwhile.
        _version_documents_settled(document.version_id)
    logger.info(
        "document stored: document=%s bytes=%s seconds=%.2f recorded=%s",
        document_id,
        stored.size,
        (timezone.now() - started).total_seconds(),
        stored_now,
    )


def _attempt_end(attempt: _Attempt, document_id: int, outcome: str, error: str = "", **document_fields) -> bool:
    """Close the attempt's history row and write its result to the document; return whether it was written.

    The document is written only while this attempt still holds the lease (its token), so an
    attempt whose lease lapsed and was taken over cannot undo the newer attempt's work.
    """
    with transaction.atomic():
        written = bool(
            Document.objects.filter(pk=document_id, lease_token=attempt.token).update(
                lease_expires_at=None, lease_token=None, **document_fields
            )
        )
        if not written and document_fields:
            outcome = DocumentAttempt.Outcome.RETRY
            error = f"another attempt had taken the document over; this result was not recorded ({error or 'stored'})"
        DocumentAttempt.objects.filter(pk=attempt.pk).update(
            outcome=outcome,
            finished_at=timezone.now(),
            http_status=attempt.http_status,
            bytes=attempt.bytes,
            error=error,
        )
    return written


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


def documents_resync(*, documents, include_stored: bool = False, failed_only: bool = False) -> int:
    """Queue these documents' sync again; return how many were queued.

    Failed and dead ones are retried; pending ones are queued again (a lost message); with
    include_stored, stored ones are downloaded again (to the same key). Syncing ones are left to
    the worker that holds them. failed_only leaves everything but failed and dead alone.
    """
    statuses = [Document.Status.FAILED, Document.Status.DEAD]
    if not failed_only:
        statuses.append(Document.Status.PENDING)
        if include_stored:
            statuses.append(Document.Status.STORED)
    with transaction.atomic():
        ids = list(documents.filter(status__in=statuses).values_list("pk", flat=True))
        Document.objects.filter(pk__in=ids).exclude(status=Document.Status.PENDING).update(
            status=Document.Status.PENDING, last_error=""
        )
        queued = documents_enqueue(Document.objects.filter(pk__in=ids))
    logger.info(
        "documents queued again: count=%s include_stored=%s failed_only=%s", queued, include_stored, failed_only
    )
    return queued


def deliveries_prune(*, received_before, include_failed: bool = False, batch_size: int = 1000) -> int:
    """Delete delivery log rows received before that time that nothing needs; return how many.

    Kept whatever their age: events that announced a recorded work item version (their row is
    the version's provenance and keeps a late re-delivery of the same eventId a duplicate), events
    not processed yet, failed events unless include_failed, and events with a duplicate newer
    than the cut-off (deleting the event would take the duplicate with it). Documents, versions
    and work items are never deleted.
    """
    from .selectors import deliveries_prunable

    prunable = deliveries_prunable(received_before=received_before, include_failed=include_failed)
    deleted = 0
    while True:
        # Small batches: no long lock on the log while the intake keeps writing to it.
        ids = list(prunable.order_by("pk").values_list("pk", flat=True).distinct()[:batch_size])
        if not ids:
            break
        deleted += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)
    logger.info("deliveries pruned: count=%s received_before=%s", deleted, received_before.isoformat())
    return deleted

"""Ending an attempt: its history row, the document's new state, the metrics and the log line.

Every end is written only while the attempt still holds the lease (its token), so an attempt
whose lease lapsed and was taken over cannot undo the newer attempt's work.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import PermanentError, RetryableError
from core.retry import retry_decide

from .. import metrics
from ..models import Document, DocumentAttempt
from ..post_processing import version_documents_settle
from ..search.services import document_text_queue
from .claim import Attempt, LeaseLost
from .stream import Saved

logger = logging.getLogger(__name__)


def attempt_store(*, document: Document, attempt: Attempt, saved: Saved, started: datetime) -> None:
    """Record the stored document; count it and settle its version when this attempt wrote it."""
    stored = saved.stored
    report = saved.lock_report
    stored_now = _attempt_end(
        attempt,
        document.pk,
        DocumentAttempt.Outcome.STORED,
        status=Document.Status.STORED,
        filename=saved.filename,
        content_type=saved.content_type[:255],
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        storage_version_id=(report.version_id if report else "") or stored.version_id,
        retention_mode=report.mode.lower() if report and report.retain_until else "",
        retain_until=report.retain_until if report else None,
        last_error="",
        synced_at=timezone.now(),
    )
    if stored_now:
        metrics.document_stored(size=stored.size, recorded_at=document.created_at, started=started)
        document_text_queue(document_id=document.pk)  # full-text search, on its own queue; never fails the sync
        # Read now, not from the row loaded before the download: a PostProcessingEvent may have come meanwhile.
        version_documents_settle(version_id=document.version_id)
    logger.info(
        "document stored: document=%s bytes=%s seconds=%.2f recorded=%s",
        document.pk,
        stored.size,
        (timezone.now() - started).total_seconds(),
        stored_now,
    )


def attempt_stop(*, document: Document, attempt: Attempt, error: LeaseLost) -> None:
    """Close an attempt that another took over: the document is the other attempt's now."""
    _attempt_end(attempt, document.pk, DocumentAttempt.Outcome.RETRY, str(error))
    logger.warning("document sync stopped: document=%s reason=%s", document.pk, error)


def attempt_fail(*, document: Document, attempt: Attempt, error: Exception, retries: int, final_attempt: bool) -> None:
    """Record a failed attempt as the retry policy decides: failed for good (a PermanentError),
    dead once the retries ran out (raises the error), else pending until its retry (raises RetryScheduled)."""
    if not isinstance(error, (PermanentError, RetryableError)):
        logger.exception("unexpected error syncing document=%s", document.pk)
    retry = retry_decide(error=error, retries=retries, final_attempt=final_attempt)
    attempt.http_status = getattr(retry.error, "http_status", None) or attempt.http_status
    if retry.permanent:
        _document_end(document, attempt, Document.Status.FAILED, reason=str(retry.error), error=retry.error)
        return
    if retry.countdown is None:
        reason = f"gave up after {document.attempts} attempts: {retry.error}"
        _document_end(document, attempt, Document.Status.DEAD, reason=reason, error=retry.error)
        raise retry.error
    # due_at is when the retry should run: the sweep queues it again only if that passes unnoticed
    # (the retry message was lost with the broker).
    _attempt_end(
        attempt,
        document.pk,
        DocumentAttempt.Outcome.RETRY,
        str(retry.error),
        status=Document.Status.PENDING,
        last_error=str(retry.error),
        due_at=retry.due_at,
    )
    logger.warning(
        "document sync will be retried: document=%s in=%.1fs error=%s", document.pk, retry.countdown, retry.error
    )
    raise retry.scheduled() from error


def _document_end(document: Document, attempt: Attempt, status: str, *, reason: str, error: Exception) -> None:
    """End the document for good, failed (refused) or dead (its retries ran out), and settle its version."""
    failed = status == Document.Status.FAILED
    outcome = DocumentAttempt.Outcome.FAILED if failed else DocumentAttempt.Outcome.DEAD
    _attempt_end(attempt, document.pk, outcome, reason, status=status, last_error=reason)
    if failed:
        logger.warning("document failed: document=%s reason=%s", document.pk, error)
        metrics.DOCUMENTS_FAILED.inc()
    else:
        logger.error("document dead: document=%s reason=%s", document.pk, error)
        metrics.DOCUMENTS_DEAD.inc()
    version_documents_settle(version_id=document.version_id)


def _attempt_end(attempt: Attempt, document_id: int, outcome: str, error: str = "", **document_fields) -> bool:
    """Close the attempt's history row and write its result to the document; return whether it was written."""
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

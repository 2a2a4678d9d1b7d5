"""Syncing one document: claim it (claim), stream it into storage (stream), end the attempt (settle)."""

from django.utils import timezone

from ..holds import document_hold_follow
from ..models import Document
from ..search.services import texts_release
from .claim import LeaseHeld, LeaseLost, document_claim, lease_kept
from .settle import attempt_fail, attempt_stop, attempt_store
from .stream import document_download_store

__all__ = ["LeaseHeld", "document_sync"]


def document_sync(*, document_id: int, retries: int = 0, final_attempt: bool = False) -> None:
    """Stream one document from Advance into storage. Safe to run twice, and concurrently.

    Every attempt (not a no-op) leaves a DocumentAttempt row. Permanent refusals fail the document
    at once. Transient failures put it back to pending and raise RetryScheduled, whose retry_after
    is the backoff for this many retries (never below Retry-After); on the final attempt they make
    it dead. A lease held by a live attempt raises LeaseHeld with the wait until it lapses.
    """
    try:
        _document_sync(document_id=document_id, retries=retries, final_attempt=final_attempt)
    finally:
        # Texts stored while documents synced were held; if this was the last sync running, they go out now.
        texts_release()


# The sync's one read: what the claim checks, and what the download needs (source, ids for the key).
_DOCUMENT_READ = Document.objects.select_related("version__work_item", "source")


def _document_sync(*, document_id: int, retries: int, final_attempt: bool) -> None:
    # Read first, claim second: the one read serves the claim and the download.
    document = _DOCUMENT_READ.filter(pk=document_id).first()
    if document is None or document.status not in (Document.Status.PENDING, Document.Status.SYNCING):
        return  # stored, failed, dead or gone: a resync since this read queues a message of its own
    attempt = document_claim(document=document)
    if attempt is None:
        return
    started = timezone.now()
    try:
        with lease_kept(document_id=document_id, token=attempt.token) as lease_lost:
            saved = document_download_store(document=document, attempt=attempt, lease_lost=lease_lost)
    except LeaseLost as error:
        attempt_stop(document=document, attempt=attempt, error=error)
    except Exception as error:
        attempt_fail(document=document, attempt=attempt, error=error, retries=retries, final_attempt=final_attempt)
    else:
        attempt_store(document=document, attempt=attempt, saved=saved, started=started)
        # Read once stored: a hold put on (or lifted) while this synced either saw it stored or is seen now.
        document_hold_follow(document_id=document_id, written_held=bool(saved.lock and saved.lock.legal_hold))

"""Taking a document for one attempt, and keeping it.

A syncing worker holds a lease on its document (settings.DOCUMENT_LEASE_SECONDS) and renews it
every third of that; a worker that died stops renewing, and once the lease lapses the document
is taken over by another attempt.
"""

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import RetryableError
from core.retry import DUE_SLACK

from ..models import Document, DocumentAttempt

logger = logging.getLogger(__name__)


class LeaseHeld(RetryableError):
    """Another worker is syncing this document now."""


class LeaseLost(RetryableError):
    """This attempt's lease lapsed and another attempt took the document over.

    A RetryableError only so that the storage layer lets it through unchanged; the document is
    the other attempt's now, and this one just stops.
    """


@dataclass
class Attempt:
    """The attempt running now: its history row, the token that fences its writes, what it saw."""

    pk: int
    token: uuid.UUID
    http_status: int | None = None
    bytes: int | None = None


def _lease_length() -> timedelta:
    return timedelta(seconds=settings.DOCUMENT_LEASE_SECONDS)


def document_claim(*, document: Document) -> Attempt | None:
    """Take the document for one attempt; None when there is nothing to do now.

    Raises LeaseHeld, with the wait until the lease lapses, while a live attempt holds it. On
    success the document in hand says what the claim wrote (syncing, one more attempt).
    """
    attempt = _document_take(document)
    if attempt is None:
        _lease_held_check(document.pk)
        return None
    document.status, document.attempts = Document.Status.SYNCING, document.attempts + 1
    return attempt


def _document_take(document: Document) -> Attempt | None:
    """Take the document (pending, or syncing under a lapsed lease) and open its attempt; None when not ours.

    document is the row as read just before: the claim also requires its attempts count unchanged,
    so that what the read said about open attempts still holds when the claim succeeds. A pending
    document waiting out a backoff is not taken by a stale duplicate message early: its own retry
    message comes when due (and the sweep, should that one be lost).
    """
    now = timezone.now()
    token = uuid.uuid4()
    takeable = Q(status=Document.Status.PENDING) & (Q(due_at__isnull=True) | Q(due_at__lte=now + DUE_SLACK)) | Q(
        status=Document.Status.SYNCING, lease_expires_at__lt=now
    )
    with transaction.atomic():
        taken = Document.objects.filter(takeable, pk=document.pk, attempts=document.attempts).update(
            status=Document.Status.SYNCING,
            attempts=F("attempts") + 1,
            lease_token=token,
            lease_expires_at=now + _lease_length(),
        )
        if not taken:
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
        attempt = DocumentAttempt.objects.create(document_id=document.pk, started_at=now, outcome="", error="")
    return Attempt(pk=attempt.pk, token=token)


def _lease_held_check(document_id: int) -> None:
    """Raise LeaseHeld when a live attempt holds the document; return when there is nothing to do now."""
    document = Document.objects.filter(pk=document_id).only("status", "lease_expires_at").first()
    if document is None or document.status != Document.Status.SYNCING or document.lease_expires_at is None:
        return  # stored, failed, dead, gone, or pending and not due yet: nothing to do now
    wait = (document.lease_expires_at - timezone.now()).total_seconds() + 1
    raise LeaseHeld("another worker is syncing this document", retry_after=max(wait, 1))


@contextmanager
def lease_kept(*, document_id: int, token: uuid.UUID) -> Iterator[threading.Event]:
    """Renew the lease in a thread of its own while the body runs; yield an event set if it is lost."""
    stop = threading.Event()
    lost = threading.Event()
    thread = threading.Thread(
        target=_lease_renew, args=(document_id, token, stop, lost), name=f"lease-{document_id}", daemon=True
    )
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def _lease_renew(document_id: int, token: uuid.UUID, stop: threading.Event, lost: threading.Event) -> None:
    """Push the lease's end out every third of its length until stopped; set lost once it is another's."""
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

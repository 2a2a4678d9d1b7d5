"""Queueing documents' syncs: after recording, on an operator's retry or resync, and by the sweep."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.sweep import stalled_requeue
from webhooks.services import delivery_replay

from .models import Document
from .object_lock import object_sha256
from .retention import documents_locked
from .selectors import ResyncSelection, resync_statuses

logger = logging.getLogger(__name__)


def documents_enqueue(*, documents) -> int:
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


def documents_retry(*, documents) -> int:
    """Queue the failed or dead documents among these again; return how many."""
    return documents_resync(documents=documents, failed_only=True)


def documents_requeue_stalled() -> int:
    """Queue again the documents whose sync never started, or whose worker stopped renewing its lease."""

    def stalled(now, cutoff):
        return Document.objects.filter(
            Q(status=Document.Status.PENDING) & (Q(due_at__lt=cutoff) | Q(due_at__isnull=True, created_at__lt=cutoff))
            | Q(status=Document.Status.SYNCING, lease_expires_at__lt=now)
        )

    return stalled_requeue(
        what="documents",
        stalled=stalled,
        requeue=lambda ids: documents_enqueue(documents=Document.objects.filter(pk__in=ids)),
        task_name="documents.tasks.document_sync",
    )


def documents_resync(*, documents, include_stored: bool = False, failed_only: bool = False) -> int:
    """Queue these documents' sync again; return how many were queued.

    Failed and dead ones are retried; pending ones are queued again (a lost message); with
    include_stored, stored ones are downloaded again (to the same key), except those whose object
    is retained or held (documents_verify checks those instead). Syncing ones are left to the
    worker that holds them. failed_only leaves everything but failed and dead alone.
    """
    statuses = resync_statuses(include_stored=include_stored, failed_only=failed_only)
    with transaction.atomic():
        ids = list(
            documents.filter(status__in=statuses).exclude(documents_locked()).values_list("pk", flat=True).distinct()
        )
        Document.objects.filter(pk__in=ids).exclude(status=Document.Status.PENDING).update(
            status=Document.Status.PENDING, last_error=""
        )
        queued = documents_enqueue(documents=Document.objects.filter(pk__in=ids))
    logger.info(
        "documents queued again: count=%s include_stored=%s failed_only=%s", queued, include_stored, failed_only
    )
    return queued


@dataclass(frozen=True)
class Verification:
    """A locked document's stored object, read again instead of written: whether its bytes are the row's."""

    document_id: int
    key: str
    outcome: str  # "verified", "mismatch" or "missing"
    sha256: str | None  # of the bytes read; None when the object is missing


def documents_verify(*, documents) -> list[Verification]:
    """Read again the stored objects of those documents that are retained or held, and compare their
    SHA-256 with the row's: a resync of a locked object reports instead of writing.

    Writing would not replace the record: in a versioned, locked bucket an upload adds a new version
    on top (with a retention of its own from today) while the locked one stays, so the key would
    name other bytes than the ones retained. The others among documents are left alone.
    """
    results = []
    locked = documents.filter(documents_locked()).distinct().only("pk", "storage_key", "storage_version_id", "sha256")
    for document in locked.order_by("pk"):
        sha256 = object_sha256(key=document.storage_key, version_id=document.storage_version_id)
        outcome = "missing" if sha256 is None else "verified" if sha256 == document.sha256 else "mismatch"
        if outcome != "verified":
            logger.error("locked document does not verify: document=%s outcome=%s", document.pk, outcome)
        results.append(Verification(document_id=document.pk, key=document.storage_key, outcome=outcome, sha256=sha256))
    return results


@dataclass(frozen=True)
class ResyncOutcome:
    replayed: int
    queued: int
    verified: list[Verification]


RESYNC_BATCH = 200  # documents per transaction: a large resync never holds one long transaction


def resync_run(*, selection: ResyncSelection, progress: Callable[[int], None] | None = None) -> ResyncOutcome:
    """Replay the selection's failed events, then queue its documents again (verify the locked
    ones among the stored, with include_stored); return what was replayed, queued and verified.

    documents_resync decides again, in its own transaction, which of them are still due a resync:
    one that a worker took or stored since the selection is left alone. progress(n) is called as
    each event and each batch of documents is done.
    """
    replayed = 0
    for delivery in selection.failed_events:
        replayed += delivery_replay(delivery=delivery)
        if progress:
            progress(1)
    queued, verified = 0, []
    for start in range(0, len(selection.document_ids), RESYNC_BATCH):
        batch = Document.objects.filter(pk__in=selection.document_ids[start : start + RESYNC_BATCH])
        queued += documents_resync(
            documents=batch, include_stored=selection.include_stored, failed_only=selection.failed_only
        )
        if selection.include_stored:
            verified += documents_verify(documents=batch)
        if progress:
            progress(min(RESYNC_BATCH, len(selection.document_ids) - start))
    return ResyncOutcome(replayed=replayed, queued=queued, verified=verified)

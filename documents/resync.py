"""Resync: replay the failed events and queue the documents a selection (selectors.resync_select) chose."""

from collections.abc import Callable

from webhooks.services import delivery_replay

from .models import Document
from .queueing import documents_resync
from .selectors import ResyncSelection

BATCH = 200  # documents per transaction: a large resync never holds one long transaction


def resync_run(*, selection: ResyncSelection, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Replay the selection's failed events, then queue its documents again; return (replayed, queued).

    documents_resync decides again, in its own transaction, which of them are still due a resync:
    one that a worker took or stored since the selection is left alone. progress(n) is called as
    each event and each batch of documents is done.
    """
    replayed = 0
    for delivery in selection.failed_events:
        replayed += delivery_replay(delivery=delivery)
        if progress:
            progress(1)
    queued = 0
    for start in range(0, len(selection.document_ids), BATCH):
        batch = selection.document_ids[start : start + BATCH]
        queued += documents_resync(
            documents=Document.objects.filter(pk__in=batch),
            include_stored=selection.include_stored,
            failed_only=selection.failed_only,
        )
        if progress:
            progress(len(batch))
    return replayed, queued

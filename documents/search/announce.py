"""Texts a worker stored while it syncs: held in the process, announced once its syncs pause.

Each stored document's text waits for extraction (documents.search.tasks), which a worker runs
only when it syncs nothing. Announced at once, every text of a burst was a message received,
found busy and sent again with a countdown, often twice: in the burst bench (`make bench`, 300
documents), as many messages as the syncs themselves, on the one thread that receives them all.

So a worker holds the ids of what it stored (the DocumentText rows are already written, awaiting)
and announces them, one message each, once it has synced nothing for IDLE_SECONDS, or once the
oldest has waited HOLD_SECONDS (a worker that never pauses still gets its texts extracted), and at
shutdown. A worker killed with texts held leaves awaiting rows, which the sweep
(documents_text_requeue_stalled) queues once they are SWEEP_STALE_SECONDS old.
"""

import logging
import threading
import time

from celery import bootsteps
from django.db import connection
from django.utils import timezone

from ..models import DocumentText

logger = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
HOLD_SECONDS = 60.0
CHECK_SECONDS = 0.25

_held: dict[int, float] = {}  # document id -> when it was held (monotonic)
_lock = threading.Lock()
_announcer: "TextAnnouncer | None" = None


def text_hold(document_id: int) -> bool:
    """Hold the text's announcement in this process; False when no announcer runs here (send it now)."""
    if _announcer is None:
        return False
    with _lock:
        _held.setdefault(document_id, time.monotonic())
    return True


def texts_announce(*, all_held: bool = False) -> int:
    """Send the held texts' messages when the syncs pause (or all of them); return how many were sent."""
    from ..sync import sync_idle_seconds  # the sync imports the search services, which import this module

    with _lock:
        if not _held:
            return 0
        overdue = min(_held.values()) < time.monotonic() - HOLD_SECONDS
        if not (all_held or overdue or sync_idle_seconds() >= IDLE_SECONDS):
            return 0
        ids = sorted(_held)
        _held.clear()
    from .tasks import document_text_extract  # the task module imports the services, which import this one

    try:
        # queued_at marks when a message went out: the sweep leaves these alone for SWEEP_STALE_SECONDS.
        DocumentText.objects.filter(document_id__in=ids, status=DocumentText.Status.AWAITING).update(
            queued_at=timezone.now()
        )
        with document_text_extract.app.producer_or_acquire() as producer:
            for document_id in ids:
                document_text_extract.apply_async((document_id,), producer=producer)
    except Exception:
        # The broker or the database is down: the rows stay awaiting and the sweep queues them.
        logger.exception("document texts not announced: count=%s (the sweep will)", len(ids))
        return 0
    return len(ids)


class TextAnnouncer:
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        global _announcer
        _announcer = self
        self.thread = threading.Thread(target=self.run, name="text-announcer", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        global _announcer
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        _announcer = None
        texts_announce(all_held=True)  # a warm shutdown leaves nothing for the sweep
        connection.close()

    def run(self) -> None:
        try:
            while not self.stopping.wait(CHECK_SECONDS):
                texts_announce()
        finally:
            connection.close()  # this thread's own connection


class TextAnnouncerStep(bootsteps.StartStopStep):
    """The announcer inside `celery -A config worker`, started after the pool, stopped at shutdown."""

    requires = {"celery.worker.components:Pool"}

    def create(self, worker) -> TextAnnouncer:
        return TextAnnouncer()

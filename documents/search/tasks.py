import threading

from celery import shared_task
from django.conf import settings

from core.retry import attempt_run

from ..selectors import documents_syncing
from . import services

# An extraction takes a core while its child parses (a large document for seconds). A worker
# process runs SEARCH_EXTRACT_CONCURRENCY of them at a time, each in one of as many warm children
# (services.extraction_children). While documents sync, a text waits for them to pause (a burst of
# syncs never waits for the CPU behind the texts of what it stored), but no longer than
# SEARCH_TEXT_WAIT_SECONDS after its document was stored: then it is extracted beside them.
_extraction_slots = threading.BoundedSemaphore(settings.SEARCH_EXTRACT_CONCURRENCY)
# A warm child answers most documents in milliseconds: an extraction waits this long for a slot
# rather than going round the broker again.
SLOT_WAIT_SECONDS = 2
# Retries of an extraction whose stored object could not be read: with the shared backoff, storage
# has minutes to come back; past that the text is failed and `documents_reindex` tries again.
SEARCH_EXTRACT_MAX_RETRIES = 5


# On the `search` queue (settings.CELERY_TASK_ROUTES): extraction never waits behind a sync.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=SEARCH_EXTRACT_MAX_RETRIES)
def document_text_extract(self, document_id: int, deferrals: int = 0) -> None:
    wait_left = services.document_text_wait_left(document_id=document_id) if documents_syncing() else 0.0
    if wait_left > 0:
        services.document_text_defer(document_id=document_id, deferrals=deferrals + 1, within=wait_left)
        return
    if not _extraction_slots.acquire(timeout=SLOT_WAIT_SECONDS):
        services.document_text_defer(document_id=document_id, deferrals=deferrals + 1)
        return
    try:
        attempt_run(task=self, service=services.document_text_extract, document_id=document_id)
    finally:
        _extraction_slots.release()


@shared_task(acks_late=True)
def documents_text_requeue_stalled() -> int:
    return services.documents_text_requeue_stalled()

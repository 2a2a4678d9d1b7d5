import threading

from celery import shared_task
from django.conf import settings

from core.retry import attempt_run

from ..selectors import documents_syncing
from . import services

# An extraction takes a core while its child parses (a large document for seconds). A worker
# process runs SEARCH_EXTRACT_CONCURRENCY of them at a time, each in one of as many warm children
# (services.extraction_children), and none while documents sync: a burst of syncs never waits for
# the CPU (or a pool thread) behind the texts of what it stored.
_extraction_slots = threading.BoundedSemaphore(settings.SEARCH_EXTRACT_CONCURRENCY)
# After this many deferrals an extraction runs whatever the syncs, so that a steady stream of
# syncs cannot keep a text waiting for ever.
MAX_DEFERRALS = 30
# Retries of an extraction whose stored object could not be read: with the shared backoff, storage
# has minutes to come back; past that the text is failed and `documents_reindex` tries again.
SEARCH_EXTRACT_MAX_RETRIES = 5


# On the `search` queue (settings.CELERY_TASK_ROUTES): extraction never waits behind, nor delays, a sync.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=SEARCH_EXTRACT_MAX_RETRIES)
def document_text_extract(self, document_id: int, deferrals: int = 0) -> None:
    busy = deferrals < MAX_DEFERRALS and documents_syncing()
    if busy or not _extraction_slots.acquire(blocking=False):
        services.document_text_defer(document_id=document_id, deferrals=deferrals + 1)
        return
    try:
        attempt_run(task=self, service=services.document_text_extract, document_id=document_id)
    finally:
        _extraction_slots.release()


@shared_task(acks_late=True)
def documents_text_requeue_stalled() -> int:
    return services.documents_text_requeue_stalled()

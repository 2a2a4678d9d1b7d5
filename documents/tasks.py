from celery import shared_task
from django.conf import settings

from core.errors import RetryableError
from core.retry import attempt_run

from . import post_processing, queueing, status_counts, storage, sync
from .advance.errors import AdvanceError


# The project's pool is threads (settings.CELERY_WORKER_POOL), which enforces neither time limits
# nor reject_on_worker_lost; both stay for a worker started with -P prefork. Under threads the
# sync keeps its own deadline, and a killed worker's document comes back by acks_late (the
# message returns after the visibility timeout) and by its lapsed lease (the sweep).
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.DOCUMENT_SYNC_MAX_RETRIES,
    soft_time_limit=settings.DOCUMENT_SYNC_TIME_LIMIT,
    time_limit=settings.DOCUMENT_SYNC_TIME_LIMIT + 60,
)
def document_sync(self, document_id: int) -> None:
    attempt_run(task=self, service=sync.document_sync, document_id=document_id)


@shared_task(acks_late=True)
def documents_requeue_stalled() -> int:
    return queueing.documents_requeue_stalled()


@shared_task(acks_late=True)
def spool_prune() -> int:
    return storage.spool_prune()


@shared_task(acks_late=True)
def status_counts_compact() -> int:
    return status_counts.status_counts_compact()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=settings.DOCUMENT_SYNC_MAX_RETRIES)
def version_post_processing_complete(self, version_id: int) -> None:
    attempt_run(task=self, service=post_processing.version_post_processing_complete, version_id=version_id)


@shared_task(acks_late=True)
def versions_post_processing_requeue_stalled() -> int:
    return post_processing.versions_post_processing_requeue_stalled()


@shared_task(acks_late=True, soft_time_limit=settings.DOCUMENT_SYNC_TIME_LIMIT)
def source_reconcile(source_id: int) -> None:
    from sources.models import Source

    from .reconcile import source_reconcile as reconcile

    source = Source.objects.filter(pk=source_id, is_active=True).first()
    if source is None:
        return
    try:
        reconcile(source=source)
    except (AdvanceError, RetryableError):
        return  # recorded on the source's sync settings; the next interval tries again


@shared_task(acks_late=True)
def sources_reconcile_due() -> int:
    from .reconcile import sources_reconcile_due as due

    return due()


# Full-text search's tasks, registered with the app's (Celery discovers documents.tasks only).
from .search.tasks import document_text_extract, documents_text_requeue_stalled  # noqa: E402, F401

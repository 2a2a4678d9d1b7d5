from celery import shared_task
from django.conf import settings

from webhooks.registry import RetryableError
from webhooks.retry import retry_countdown

from . import services, storage
from .advance import AdvanceError


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
    final_attempt = self.request.retries >= self.max_retries
    try:
        services.document_sync(document_id=document_id, retries=self.request.retries, final_attempt=final_attempt)
    except RetryableError as error:
        if final_attempt:
            return
        # The service chose the wait: the backoff or Retry-After it wrote down as due_at, or until a held lease lapses.
        countdown = error.retry_after if error.retry_after is not None else retry_countdown(self.request.retries)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(acks_late=True)
def documents_requeue_stalled() -> int:
    return services.documents_requeue_stalled()


@shared_task(acks_late=True)
def spool_prune() -> int:
    return storage.spool_prune()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=settings.DOCUMENT_SYNC_MAX_RETRIES)
def version_post_processing_complete(self, version_id: int) -> None:
    final_attempt = self.request.retries >= self.max_retries
    try:
        services.version_post_processing_complete(
            version_id=version_id, retries=self.request.retries, final_attempt=final_attempt
        )
    except RetryableError as error:
        raise self.retry(exc=error, countdown=error.retry_after) from error


@shared_task(acks_late=True)
def versions_post_processing_requeue_stalled() -> int:
    return services.versions_post_processing_requeue_stalled()


@shared_task(acks_late=True, soft_time_limit=settings.DOCUMENT_SYNC_TIME_LIMIT)
def source_reconcile(source_id: int) -> None:
    from webhooks.models import Source

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

from celery import shared_task
from django.conf import settings

from webhooks.registry import RetryableError
from webhooks.retry import retry_countdown

from . import services


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=10,
    soft_time_limit=settings.DOCUMENT_SYNC_TIME_LIMIT,
    time_limit=settings.DOCUMENT_SYNC_TIME_LIMIT + 60,
)
def document_sync(self, document_id: int) -> None:
    final_attempt = self.request.retries >= self.max_retries
    try:
        services.document_sync(document_id=document_id, final_attempt=final_attempt)
    except RetryableError as error:
        if final_attempt:
            return
        raise self.retry(exc=error, countdown=retry_countdown(self.request.retries, error.retry_after)) from error


@shared_task(acks_late=True)
def documents_requeue_stalled() -> int:
    return services.documents_requeue_stalled()

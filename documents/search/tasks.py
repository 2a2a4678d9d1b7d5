from celery import shared_task
from django.conf import settings

from core.retry import attempt_run

from . import services


# On the `search` queue (settings.CELERY_TASK_ROUTES): extraction never waits behind, nor delays, a sync.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=settings.SEARCH_EXTRACT_MAX_RETRIES)
def document_text_extract(self, document_id: int) -> None:
    attempt_run(task=self, service=services.document_text_extract, document_id=document_id)


@shared_task(acks_late=True)
def documents_text_requeue_stalled() -> int:
    return services.documents_text_requeue_stalled()

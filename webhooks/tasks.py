from celery import shared_task

from . import services
from .registry import RetryableError
from .retry import retry_countdown


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8)
def delivery_process(self, delivery_id: int) -> None:
    final_attempt = self.request.retries >= self.max_retries
    try:
        services.delivery_process(delivery_id=delivery_id, final_attempt=final_attempt)
    except RetryableError as error:
        if final_attempt:
            return
        raise self.retry(exc=error, countdown=retry_countdown(self.request.retries, error.retry_after)) from error


@shared_task(acks_late=True)
def deliveries_requeue_stalled() -> int:
    return services.deliveries_requeue_stalled()

from celery import shared_task

from core.errors import RetryableError

from . import services


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8, soft_time_limit=300, time_limit=360)
def delivery_process(self, delivery_id: int) -> None:
    final_attempt = self.request.retries >= self.max_retries
    try:
        services.delivery_process(delivery_id=delivery_id, retries=self.request.retries, final_attempt=final_attempt)
    except RetryableError as error:
        if final_attempt:
            return
        # The service chose the wait and wrote it down as the delivery's due_at.
        raise self.retry(exc=error, countdown=error.retry_after) from error


@shared_task(acks_late=True)
def deliveries_requeue_stalled() -> int:
    return services.deliveries_requeue_stalled()

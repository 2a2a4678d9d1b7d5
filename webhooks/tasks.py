from celery import shared_task

from core.retry import attempt_run

from . import services


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8, soft_time_limit=300, time_limit=360)
def delivery_process(self, delivery_id: int) -> None:
    attempt_run(task=self, service=services.delivery_process, delivery_id=delivery_id)


@shared_task(acks_late=True)
def deliveries_requeue_stalled() -> int:
    return services.deliveries_requeue_stalled()

from celery import shared_task
from django.conf import settings

from core.retry import attempt_run

from . import services
from .services import pruning


# Time limits hold under -P prefork only; see documents/tasks.py for the threads pool.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.WEBHOOK_PROCESS_MAX_RETRIES,
    soft_time_limit=settings.WEBHOOK_PROCESS_TIME_LIMIT,
    time_limit=settings.WEBHOOK_PROCESS_TIME_LIMIT + 60,
)
def delivery_process(self, delivery_id: int) -> None:
    attempt_run(task=self, service=services.delivery_process, delivery_id=delivery_id)


@shared_task(acks_late=True)
def deliveries_requeue_stalled() -> int:
    return services.deliveries_requeue_stalled()


@shared_task(acks_late=True)
def deliveries_prune() -> int:
    return pruning.deliveries_prune_retained()

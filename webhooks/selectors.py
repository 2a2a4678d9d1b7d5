"""Reads of the delivery log that more than one edge needs."""

from datetime import datetime

from django.db.models import QuerySet

from .models import Delivery
from .registry import delivery_keep_query


def deliveries_prunable(*, received_before: datetime, include_failed: bool = False) -> QuerySet:
    """Delivery log rows received before that time that nothing needs (see services.pruning.deliveries_prune)."""
    prunable = (
        Delivery.objects.filter(received_at__lt=received_before)
        .exclude(delivery_keep_query())
        .exclude(status=Delivery.Status.ACCEPTED)
        .exclude(duplicates__received_at__gte=received_before)
    )
    if not include_failed:
        prunable = prunable.exclude(status=Delivery.Status.FAILED)
    return prunable

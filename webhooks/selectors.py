"""Reads of sources, tokens and the delivery log for the edges (admin pages, commands)."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from sources.models import Source

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


def deliveries_failed_since(*, since: datetime, source: Source | None = None) -> QuerySet:
    """Failed events received since then (of one source, if given), oldest first."""
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED, received_at__gte=since)
    if source is not None:
        failed = failed.filter(source=source)
    return failed.order_by("received_at", "pk")


def source_token_counts(*, source: Source) -> tuple[int, int]:
    """How many tokens the source has, and how many of them are usable (neither revoked nor expired)."""
    usable = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    counts = source.tokens.aggregate(total=Count("pk"), usable=Count("pk", filter=usable))
    return counts["total"], counts["usable"]


def source_refused_kept_count(*, source: Source) -> int:
    """How many of the source's refused calls are kept for a second check (with their credentials)."""
    return source.deliveries.filter(status=Delivery.Status.REJECTED).exclude(credentials_encrypted="").count()

"""The dashboard shown on the admin's index page (templates/admin/index.html)."""

from datetime import timedelta

from django import template
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from core.admin import custom_plans
from core.queues import queues_read
from documents import selectors
from documents.charts import daily_bars_svg
from documents.models import Document
from webhooks.models import Delivery

register = template.Library()

CHART_DAYS = 30


def _changelist(url_name: str, **filters) -> str:
    return reverse(url_name) + ("?" + urlencode(filters) if filters else "")


@register.inclusion_tag("admin/documents/dashboard.html", takes_context=True)
def operator_dashboard(context) -> dict:
    """Counts, a 30-day chart and the latest failures, for users who may view documents: of the
    sources they may see, as the lists those figures link to. A few queries, each reading an index
    over the rows it counts; the queues (every source's work) for who sees every source."""
    request = context["request"]
    if not request.user.has_perm("documents.view_document"):
        return {"show": False}
    scope = admin.site.get_model_admin(Document).visible_scope(request)
    events_scope = admin.site.get_model_admin(Delivery).visible_scope(request)
    now = timezone.now()
    # Planned for the user's sources and each status: a generic plan (a statement prepared after
    # five runs on a connection) read the oldest syncing document of two sources along the creation
    # date index, through every document, when none was syncing.
    with custom_plans():
        figures = selectors.dashboard_figures(now=now, scope=scope, events_scope=events_scope)
        chart = selectors.documents_per_day(days=CHART_DAYS, now=now, scope=scope)
        failures = selectors.documents_latest_failures(limit=10, scope=scope)
    documents = "admin:documents_document_changelist"
    today = figures.today
    week_start = today - timedelta(days=6)
    tomorrow = today + timedelta(days=1)
    return {
        "show": True,
        "figures": figures,
        "oldest_pending_age": (now - figures.oldest_pending_at) if figures.oldest_pending_at else None,
        "chart": daily_bars_svg(chart),
        "chart_days": CHART_DAYS,
        "failures": failures,
        "links": {
            "synced_today": _changelist(
                documents, synced_at__gte=today.isoformat(), synced_at__lt=tomorrow.isoformat()
            ),
            "synced_week": _changelist(
                documents, synced_at__gte=week_start.isoformat(), synced_at__lt=tomorrow.isoformat()
            ),
            "pending": _changelist(documents, status__exact=Document.Status.PENDING),
            "failed": _changelist(documents, status__exact=Document.Status.FAILED),
            "dead": _changelist(documents, status__exact=Document.Status.DEAD),
            "text_awaiting": _changelist(documents, text_record__status__exact="awaiting"),
            "text_failed": _changelist(documents, text_record__status__exact="failed"),
            "events_failed": _changelist("admin:webhooks_delivery_changelist", status__exact="failed"),
            "events_waiting": _changelist("admin:webhooks_delivery_changelist", status__exact="accepted"),
        },
        "can_view_deliveries": request.user.has_perm("webhooks.view_delivery"),
        **(_queues() if scope.every else {"queues_hidden": True}),
    }


def _queues() -> dict:
    """The queue panel: each queue's waiting messages and workers, as read at most a few seconds ago
    (the reading /readyz/queues shares: one broadcast to the workers per few seconds, not per page)."""
    reading = queues_read()
    if reading.error:  # the broker is down: the rest of the dashboard still shows
        return {"queues": [], "queues_error": f"the broker did not answer ({reading.error})"}
    return {"queues": reading.states, "queues_error": ""}


@register.filter
def duration_short(delta) -> str:
    """A duration as its two largest units: '3 d 4 h', '12 min', '40 s'."""
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"

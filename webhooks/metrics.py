"""What the intake counts: requests, stored and refused events, interview answers, and the events backlog."""

import re
import time
from collections.abc import Callable, Iterator

from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from core.metrics import PREFIX

WEBHOOK_RECEIVED = Counter(f"{PREFIX}_webhook_received", "Requests that reached the webhook endpoint.")
WEBHOOK_ACCEPTED = Counter(f"{PREFIX}_webhook_accepted", "New events stored and answered 202.")
WEBHOOK_DUPLICATE = Counter(f"{PREFIX}_webhook_duplicate", "Events delivered again (answered 200, synced once).")
WEBHOOK_REJECTED = Counter(f"{PREFIX}_webhook_rejected", "Deliveries refused, by cause.", ["cause"])
WEBHOOK_ANSWER_SECONDS = Histogram(
    f"{PREFIX}_webhook_answer_seconds",
    "Time from request to answer at the webhook endpoint, by answer status.",
    ["status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INTERVIEW_ANSWERS = Counter(
    f"{PREFIX}_interview_answers", "Interview events answered, by outcome (answered, fallback, rejected).", ["outcome"]
)

# Causes that are named by the answer status alone; a 400's cause is the service's own short
# constant ("invalid JSON", "unknown event type"), never text from the request.
CAUSE_BY_STATUS = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}
MAX_CAUSE_LABEL = 40


def rejection_cause_label(*, http_status: int, cause: str) -> str:
    """A short, bounded label for a rejection: fixed per status, or the 400's cause in snake case."""
    if http_status in CAUSE_BY_STATUS:
        return CAUSE_BY_STATUS[http_status]
    label = re.sub(r"[^a-z0-9]+", "_", cause.lower()).strip("_")[:MAX_CAUSE_LABEL].rstrip("_")
    return label or f"http_{http_status}"


def webhook_rejected(*, http_status: int, cause: str) -> None:
    WEBHOOK_REJECTED.labels(cause=rejection_cause_label(http_status=http_status, cause=cause)).inc()


def interview_answered(*, http_status: int, fallback: bool) -> None:
    if http_status >= 400:
        INTERVIEW_ANSWERS.labels(outcome="rejected").inc()
        webhook_rejected(http_status=http_status, cause="interview")
    else:
        INTERVIEW_ANSWERS.labels(outcome="fallback" if fallback else "answered").inc()


class WebhookMetricsMiddleware:
    """Counts and times every request to the webhook endpoint, whatever its answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self._prefix: str | None = None

    def webhook_prefix(self) -> str:
        if self._prefix is None:
            # "/webhooks/advance/": also covers the per-source URLs below it.
            self._prefix = reverse("webhooks:advance")
        return self._prefix

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(self.webhook_prefix()):
            return self.get_response(request)
        started = time.perf_counter()
        WEBHOOK_RECEIVED.inc()
        response = self.get_response(request)
        WEBHOOK_ANSWER_SECONDS.labels(status=str(response.status_code)).observe(time.perf_counter() - started)
        return response


def events_backlog_gauges() -> Iterator[GaugeMetricFamily]:
    """Accepted events not processed yet, and the age of the oldest (read at scrape time)."""
    from .models import Delivery

    events = Delivery.objects.filter(status=Delivery.Status.ACCEPTED).aggregate(
        count=Count("pk"), oldest=Min("received_at")
    )
    yield GaugeMetricFamily(f"{PREFIX}_events_backlog", "Accepted events not processed yet.", value=events["count"])
    yield GaugeMetricFamily(
        f"{PREFIX}_events_backlog_oldest_age_seconds",
        "Age of the oldest accepted event not processed yet (0 when none).",
        value=(timezone.now() - events["oldest"]).total_seconds() if events["oldest"] else 0,
    )

"""Prometheus metrics: what the intake and the sync count, and the `/metrics` view that exposes them.

Counters and histograms are incremented where things happen (webhooks.services,
documents.services, the request middleware below). Several processes count at once (gunicorn's
workers, Celery's pool), so with PROMETHEUS_MULTIPROC_DIR set, prometheus_client keeps each
process's values in files in that directory and the view adds them up: every scrape sees the
whole, whichever worker answers it. The directory must be set before prometheus_client is first
imported (scripts/run.py and config/gunicorn.py do it; Docker sets it in the image). Backlog
gauges are read from the database at scrape time, so they need no cross-process bookkeeping.

Access: with METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` is let in; without
it, only requests straight from a loopback or private address (no proxy's forwarding headers).
"""

import hmac
import ipaddress
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

PREFIX = "advance_sync"
HOSTNAME = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_identifier(pid: int | None = None) -> str:
    """Names a process's metric files: host and pid, so that containers sharing one directory
    (web and worker, each with its own pid 1, 2, ...) never write to the same file."""
    return f"{HOSTNAME}-{os.getpid() if pid is None else pid}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before the first metric is made: every value is created through this class.
    prometheus_values.ValueClass = prometheus_values.MultiProcessValue(process_identifier=process_identifier)

# Intake ------------------------------------------------------------------------------------

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

# Sync --------------------------------------------------------------------------------------

DOCUMENTS_SYNCED = Counter(f"{PREFIX}_documents_synced", "Documents stored.")
DOCUMENTS_FAILED = Counter(f"{PREFIX}_documents_failed", "Documents refused for good (404, another origin, too large).")
DOCUMENTS_DEAD = Counter(f"{PREFIX}_documents_dead", "Documents given up after their retries ran out.")
DOCUMENT_BYTES = Counter(f"{PREFIX}_document_downloaded_bytes", "Bytes downloaded from Advance and stored.")
POST_PROCESSING_COMPLETED = Counter(
    f"{PREFIX}_post_processing_completed", "Versions whose post-assembly processing status was set to Complete."
)
POST_PROCESSING_FAILED = Counter(
    f"{PREFIX}_post_processing_failed", "Versions whose post-assembly processing status could not be set (for good)."
)
RECONCILED_VERSIONS = Counter(
    f"{PREFIX}_reconciled_versions", "Completed versions that no webhook had announced, recorded by reconciliation."
)
RECONCILE_FAILURES = Counter(f"{PREFIX}_reconcile_failures", "Reconciliation runs that ended in an error.")
DOCUMENT_SYNC_SECONDS = Histogram(
    f"{PREFIX}_document_sync_seconds",
    "Time from a document being recorded (its event processed) to its bytes stored, retries included.",
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600),
)
DOCUMENT_DOWNLOAD_SECONDS = Histogram(
    f"{PREFIX}_document_download_seconds",
    "Time one successful download-and-store took.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800),
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


def document_stored(*, size: int, recorded_at: datetime | None, started: datetime) -> None:
    """Count a stored document: its bytes, its download time and its time since it was recorded."""
    now = timezone.now()
    DOCUMENTS_SYNCED.inc()
    DOCUMENT_BYTES.inc(size)
    DOCUMENT_DOWNLOAD_SECONDS.observe(max(0.0, (now - started).total_seconds()))
    if recorded_at is not None:
        DOCUMENT_SYNC_SECONDS.observe(max(0.0, (now - recorded_at).total_seconds()))


# Request timing ----------------------------------------------------------------------------


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


# Backlog, read from the database at scrape time --------------------------------------------


class BacklogCollector:
    """Gauges computed by two aggregate queries when scraped: documents by status, the backlog and its age."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count, Min

        from documents.models import Document
        from webhooks.models import Delivery

        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the backlog gauges could be read from the database.")
        try:
            rows = Document.objects.order_by().values("status").annotate(count=Count("pk"), oldest=Min("created_at"))
            by_status = {row["status"]: row for row in rows}
            events = Delivery.objects.filter(status=Delivery.Status.ACCEPTED).aggregate(
                count=Count("pk"), oldest=Min("received_at")
            )
        except Exception as error:  # a scrape must still answer when the database does not
            logger.warning("metrics: the backlog could not be read: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = timezone.now()

        documents = GaugeMetricFamily(f"{PREFIX}_documents", "Documents by status now.", labels=["status"])
        for status in Document.Status.values:
            documents.add_metric([status], by_status.get(status, {}).get("count", 0))
        yield documents

        waiting = [by_status[s] for s in (Document.Status.PENDING, Document.Status.SYNCING) if s in by_status]
        oldest = min((row["oldest"] for row in waiting if row["oldest"]), default=None)
        yield GaugeMetricFamily(
            f"{PREFIX}_documents_backlog", "Documents pending or syncing.", value=sum(row["count"] for row in waiting)
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_documents_backlog_oldest_age_seconds",
            "Age of the oldest document pending or syncing (0 when none).",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
        yield GaugeMetricFamily(f"{PREFIX}_events_backlog", "Accepted events not processed yet.", value=events["count"])
        yield GaugeMetricFamily(
            f"{PREFIX}_events_backlog_oldest_age_seconds",
            "Age of the oldest accepted event not processed yet (0 when none).",
            value=(now - events["oldest"]).total_seconds() if events["oldest"] else 0,
        )


class _Collectors:
    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def metrics_text() -> bytes:
    """Every metric in Prometheus' text format: all processes' counters plus the backlog gauges."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(_Collectors(registry, BacklogCollector()))
    return generate_latest(_Collectors(REGISTRY, BacklogCollector()))


# The view ----------------------------------------------------------------------------------

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def metrics_access(request: HttpRequest) -> int | None:
    """None when the request may read the metrics, else the status to refuse it with (401 or 403)."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return 401
    # Through a proxy, REMOTE_ADDR is the proxy's (often private) address: anyone could be behind it.
    if any(request.META.get(header) for header in FORWARDING_HEADERS):
        return 403
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return 403
    return None if (address.is_loopback or address.is_private) else 403


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = metrics_access(request)
    if refusal == 401:
        response = HttpResponse("A bearer token (METRICS_TOKEN) is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if refusal:
        return HttpResponse(
            "Metrics are served to loopback and private addresses, or with METRICS_TOKEN.\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)

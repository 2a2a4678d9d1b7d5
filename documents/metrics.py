"""What the sync counts: documents stored, failed and given up, post-processing, reconciliation,
and the documents backlog by status."""

from collections.abc import Iterator
from datetime import datetime

from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from core.metrics import PREFIX

from .selectors import document_figures

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


def document_stored(*, size: int, recorded_at: datetime | None, started: datetime) -> None:
    """Count a stored document: its bytes, its download time and its time since it was recorded."""
    now = timezone.now()
    DOCUMENTS_SYNCED.inc()
    DOCUMENT_BYTES.inc(size)
    DOCUMENT_DOWNLOAD_SECONDS.observe(max(0.0, (now - started).total_seconds()))
    if recorded_at is not None:
        DOCUMENT_SYNC_SECONDS.observe(max(0.0, (now - recorded_at).total_seconds()))


def documents_backlog_gauges() -> Iterator[GaugeMetricFamily]:
    """Documents by status, the backlog (pending or syncing) and the age of its oldest (read at scrape time)."""
    figures = document_figures()
    documents = GaugeMetricFamily(f"{PREFIX}_documents", "Documents by status now.", labels=["status"])
    for status, count in figures.by_status.items():
        documents.add_metric([status], count)
    yield documents
    yield GaugeMetricFamily(f"{PREFIX}_documents_backlog", "Documents pending or syncing.", value=figures.waiting)
    oldest = figures.oldest_pending_at
    yield GaugeMetricFamily(
        f"{PREFIX}_documents_backlog_oldest_age_seconds",
        "Age of the oldest document pending or syncing (0 when none).",
        value=(timezone.now() - oldest).total_seconds() if oldest else 0,
    )

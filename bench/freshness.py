"""`BENCH_ONLY=freshness`: how soon a document stored in a burst can be found by the search, and
what the search costs the burst.

The burst of bench/burst.py (EVENTS events x 3 documents with a text layer, Advance answering
after DELAY s) against the app with one plain `celery -A config worker`, every queue, as the
README starts it. Each document's time from stored (`synced_at`) to searchable (its text's
`extracted_at`, written with its search vector) gives p50, p95 and the longest; the burst's
documents per second are the burst's own figure. The baseline, in the same run: the same burst
with the worker started as `celery -A config worker -Q intake,documents,default` (the README's
split of the queues, here with no worker of the `search` queue), which stores the same documents
and extracts nothing.
"""

import os
import statistics
import time

from bench.burst import EVENTS, PlainWorker, documents_settled, events_post

DELAY = float(os.environ.get("BENCH_FRESHNESS_DELAY", "0.5"))
DOCUMENT_BYTES = 32 * 1024
# How long the texts may take to settle after the burst before the section gives up on them.
SETTLE_SECONDS = float(os.environ.get("BENCH_FRESHNESS_TIMEOUT", "600"))
NOT_SEARCH = "intake,documents,default"


def _burst_items(advance, label: str) -> list:
    from advance_sim import SimDocument

    return [
        advance.add_work_item(
            name=f"freshness {label}-{n}",
            documents=[SimDocument(name=f"Clause {i}", kind="pdf", size=DOCUMENT_BYTES) for i in range(3)],
        )
        for n in range(EVENTS)
    ]


def _burst(web_url: str, advance, key: str, items: list) -> tuple[float, int, int]:
    """Post the items' events and wait for their documents; (docs/s, stored, rejected)."""
    import json

    payloads = [json.dumps(advance.event_payload(item)).encode() for item in items]
    advance.delay_seconds = DELAY
    try:
        started = time.monotonic()
        codes = events_post(web_url, key, payloads)
        stored = documents_settled([item.version_id for item in items], 3 * len(items))
        seconds = time.monotonic() - started
    finally:
        advance.delay_seconds = 0.0
    return stored / seconds, stored, sum(code != 202 for code in codes)


def _texts_waiting(version_ids: list[str] | None = None) -> int:
    """Stored documents (of these versions, or all) whose text has not ended one way or another."""
    from django.db.models import Q

    from documents.models import Document, DocumentText

    stored = Document.objects.filter(status=Document.Status.STORED)
    if version_ids is not None:
        stored = stored.filter(version__advance_id__in=version_ids)
    return stored.filter(Q(text_record__isnull=True) | Q(text_record__status=DocumentText.Status.AWAITING)).count()


def _texts_settle(version_ids: list[str] | None = None) -> float:
    """Wait until the texts have ended (extracted, failed or unsupported); seconds waited."""
    started = time.monotonic()
    while _texts_waiting(version_ids) and time.monotonic() - started < SETTLE_SECONDS:
        time.sleep(0.5)
    return time.monotonic() - started


def _stored_to_searchable(version_ids: list[str]) -> list[float]:
    from django.db.models import F

    from documents.models import DocumentText

    texts = DocumentText.objects.filter(
        document__version__advance_id__in=version_ids, status=DocumentText.Status.EXTRACTED
    ).annotate(synced_at=F("document__synced_at"))
    return sorted((text.extracted_at - text.synced_at).total_seconds() for text in texts)


def _quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def freshness(*, web_url: str, advance, key: str) -> dict:
    # Earlier sections' texts first, so that this burst's extraction waits behind none of theirs.
    with PlainWorker("freshness-drain"):
        _texts_settle()
    searched = _burst_items(advance, "searched")
    with PlainWorker("freshness-searched"):
        docs_s, stored, rejected = _burst(web_url, advance, key, searched)
        settle_s = _texts_settle([item.version_id for item in searched])
    delays = _stored_to_searchable([item.version_id for item in searched])
    unsearched = _burst_items(advance, "unsearched")
    with PlainWorker("freshness-unsearched", NOT_SEARCH):
        baseline_docs_s, baseline_stored, baseline_rejected = _burst(web_url, advance, key, unsearched)
    # The baseline's texts, extracted now so that no later section extracts them.
    with PlainWorker("freshness-drain-after"):
        _texts_settle()
    return {
        "docs_s": docs_s,
        "stored": stored,
        "rejected": rejected + baseline_rejected,
        "baseline_docs_s": baseline_docs_s,
        "baseline_stored": baseline_stored,
        "expected": 3 * EVENTS,
        "searchable": len(delays),
        "p50": _quantile(delays, 50),
        "p95": _quantile(delays, 95),
        "longest": max(delays, default=float("nan")),
        "settle_s": settle_s,
    }

"""Extraction metrics, exposed by /metrics with the rest (core.metrics)."""

from prometheus_client import Counter, Histogram

from core.metrics import PREFIX  # also sets up multi-process values before these are made

TEXT_EXTRACTED = Counter(f"{PREFIX}_document_text_extracted", "Documents whose text was extracted and indexed.")
TEXT_FAILED = Counter(
    f"{PREFIX}_document_text_failed", "Documents whose text could not be extracted, by reason.", ["reason"]
)
TEXT_EXTRACT_SECONDS = Histogram(
    f"{PREFIX}_document_text_extract_seconds",
    "Time to read a stored document and extract its text.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

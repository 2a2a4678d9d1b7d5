"""Writes of full-text search: queue a stored document's extraction, extract and index it, reindex.

The extraction reads the stored object back as a stream into a spool file (at most
SEARCH_EXTRACT_MAX_BYTES), and parses it in a warm child process (documents/search/children.py) with
a memory limit and a time budget, so that a hostile file costs at most that child.
"""

import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, Subquery, Value
from django.db.models.functions import Substr
from django.utils import timezone
from storages.backends.s3 import S3Storage

from core.errors import RetryableError
from core.retry import backoff_seconds
from core.sweep import stalled_requeue
from sources.models import SourceSync

from ..models import Document, DocumentText
from ..selectors import documents_syncing
from ..storage import SPOOL_COPY_BYTES, StorageUnavailable, document_storage, s3_client, s3_object_key, spool_dir
from . import metrics
from .children import ChildPool, Limits
from .extraction import EXIT_CORRUPT, EXIT_MEMORY, EXIT_NO_TEXT, kind_for

logger = logging.getLogger(__name__)

# Raise when an extractor changes what it finds: `documents_reindex` then has something to redo.
EXTRACTOR_VERSION = 1
# Past this many characters a tsvector may outgrow PostgreSQL's 1 MiB limit (many distinct words):
# the vector is then made from this first part, and the whole text is still kept and shown.
VECTOR_FALLBACK_CHARS = 200_000
# Text kept (and searched) per document: about 500 pages of prose, as many as are read of a PDF;
# past that a document's words add little to finding it.
SEARCH_TEXT_MAX_CHARS = 1_000_000
# PDF pages read for text (the rest is left out, the text marked truncated): a bound on the
# child's time for pages that would add little beyond SEARCH_TEXT_MAX_CHARS anyway.
SEARCH_EXTRACT_MAX_PAGES = 500
# A child whose resident memory ever passed this part of SEARCH_EXTRACT_MEMORY_BYTES is replaced
# after its answer: what a large document left allocated (or fragmented) is not carried to the next.
CHILD_PEAK_MEMORY_SHARE = 0.5
Reason = DocumentText.Reason
# This worker process's warm extraction children (documents/search/children.py).
extraction_children = ChildPool()


class ExtractionRetry(RetryableError):
    """Storage could not be read now; the task tries again later."""


# Held texts queued per release: one short transaction, however long the burst that held them.
RELEASE_BATCH = 1000


def document_text_queue(*, document_id: int) -> None:
    """Mark the stored document's text as awaiting extraction, held until the syncs pause. Never raises.

    Called by the sync once a document is stored; the sync then calls texts_release, which queues
    it at once unless other documents are syncing. A failure here is logged and left to the
    sweep (documents_text_requeue_stalled), never turned into a failed sync.
    """
    try:
        # One statement (an upsert), not a transaction of two: this runs once per document stored.
        DocumentText.objects.bulk_create(
            [DocumentText(document_id=document_id, status=DocumentText.Status.AWAITING, queued_at=None)],
            update_conflicts=True,
            unique_fields=["document"],
            update_fields=["status", "queued_at", "reason"],
        )
    except Exception:
        logger.exception("document text not queued: document=%s (the sweep will)", document_id)


def texts_release() -> int:
    """Queue the extraction of the held texts once no document is syncing; return how many. Never raises.

    Extraction takes a core while it parses (with a new interpreter per document, as it was, a
    good part of a second each): run beside a burst of syncs, it slowed the burst, and deferring
    it sent a message per text again and again. So a stored document's text waits (awaiting,
    queued_at empty: the row says it is held) until the sync that ends while no other runs
    releases every held text. A text held past SEARCH_TEXT_WAIT_SECONDS (syncs that never pause) is
    queued by the sweep.
    """
    try:
        if documents_syncing():
            return 0
        with transaction.atomic():
            held = DocumentText.objects.filter(status=DocumentText.Status.AWAITING, queued_at__isnull=True)
            # SKIP LOCKED: two syncs ending together release disjoint texts, never one twice.
            ids = list(
                held.select_for_update(skip_locked=True)
                .order_by("document_id")
                .values_list("document_id", flat=True)[:RELEASE_BATCH]
            )
            if ids:
                DocumentText.objects.filter(document_id__in=ids).update(queued_at=timezone.now())
                transaction.on_commit(lambda: _texts_send(ids), robust=True)
    except Exception:
        logger.exception("held document texts not released (the sweep will)")
        return 0
    return len(ids)


def _texts_send(ids: list[int]) -> None:
    from .tasks import document_text_extract  # the task module imports this one

    with document_text_extract.app.producer_or_acquire() as producer:
        for document_id in ids:
            document_text_extract.apply_async((document_id,), producer=producer)


def _send(document_id: int) -> None:
    from .tasks import document_text_extract  # the task module imports this one

    document_text_extract.delay(document_id)


def document_text_wait_left(*, document_id: int) -> float:
    """Seconds the document's text may still wait for the syncs to pause: SEARCH_TEXT_WAIT_SECONDS
    from when the document was stored."""
    stored_at = Document.objects.filter(pk=document_id).values_list("synced_at", flat=True).first()
    if stored_at is None:
        return 0.0
    return max(0.0, settings.SEARCH_TEXT_WAIT_SECONDS - (timezone.now() - stored_at).total_seconds())


def document_text_defer(*, document_id: int, deferrals: int, within: float | None = None) -> None:
    """Queue the extraction again in a few seconds (at most `within`), its row marked queued for
    then (so the sweep leaves it): documents are syncing, or this worker extracts as many as it
    may. `deferrals` counts this one too (1 the first time)."""
    from .tasks import document_text_extract  # the task module imports this one

    # 3-6 s, then twice as long each time up to 24-48 s: a long run of syncs is not slowed by
    # re-queueing every waiting text every few seconds.
    countdown = backoff_seconds(deferrals, base=3, cap=48)
    if within is not None:
        countdown = max(1.0, min(countdown, within))
    # queued_at is when its message is due: the sweep leaves the text alone until then.
    DocumentText.objects.filter(document_id=document_id, status=DocumentText.Status.AWAITING).update(
        queued_at=timezone.now() + timedelta(seconds=countdown)
    )
    document_text_extract.apply_async((document_id,), {"deferrals": deferrals}, countdown=countdown)


def documents_text_queue(*, documents) -> int:
    """Queue the extraction of these documents (stored ones only) again; return how many."""
    ids = list(documents.filter(status=Document.Status.STORED).values_list("pk", flat=True))
    now = timezone.now()
    with transaction.atomic():
        existing = set(DocumentText.objects.filter(document_id__in=ids).values_list("document_id", flat=True))
        DocumentText.objects.filter(document_id__in=existing).update(
            status=DocumentText.Status.AWAITING, queued_at=now, reason=Reason.NONE, detail=""
        )
        DocumentText.objects.bulk_create(
            [DocumentText(document_id=pk, queued_at=now) for pk in ids if pk not in existing],
            ignore_conflicts=True,
        )
        for pk in ids:
            transaction.on_commit(lambda pk=pk: _send(pk), robust=True)
    logger.info("document texts queued: count=%s", len(ids))
    return len(ids)


def documents_text_requeue_stalled() -> int:
    """Queue again stored documents never extracted, awaiting for long (a lost message), or held
    for long (syncs that never paused); return how many."""

    def stalled(now, cutoff):
        never = Q(status=Document.Status.STORED, text_record__isnull=True, synced_at__lt=cutoff)
        # A held text is due once it has waited SEARCH_TEXT_WAIT_SECONDS for the syncs to pause.
        held_since = now - timedelta(seconds=settings.SEARCH_TEXT_WAIT_SECONDS)
        awaiting = Q(text_record__status=DocumentText.Status.AWAITING) & (
            Q(text_record__queued_at__lt=cutoff) | Q(text_record__queued_at__isnull=True, synced_at__lt=held_since)
        )
        return Document.objects.filter(never | awaiting)

    return stalled_requeue(
        what="document text extractions",
        stalled=stalled,
        requeue=lambda ids: documents_text_queue(documents=Document.objects.filter(pk__in=ids)),
        task_name="documents.search.tasks.document_text_extract",
    )


def document_text_extract(*, document_id: int, retries: int = 0, final_attempt: bool = False) -> str | None:
    """Extract and index one stored document's text; return the status written. Safe to run twice.

    Every outcome is written to the document's DocumentText row with its reason. Only storage that
    cannot be read now raises (ExtractionRetry), and on the final attempt that too is recorded.
    """
    started = time.monotonic()
    try:
        return _document_text_extract(document_id=document_id, final_attempt=final_attempt)
    except ExtractionRetry:
        raise
    except Exception as error:
        # Recorded rather than left awaiting, where the sweep would queue it again and again.
        logger.exception("document text extraction failed unexpectedly: document=%s", document_id)
        return _end(document_id, started, DocumentText.Status.FAILED, Reason.ERROR, f"{type(error).__name__}: {error}")


def _document_text_extract(*, document_id: int, final_attempt: bool) -> str | None:
    document = Document.objects.filter(pk=document_id, status=Document.Status.STORED).first()
    if document is None:
        return None  # gone, or not stored (a resync runs): its next store queues it again
    DocumentText.objects.get_or_create(document_id=document_id, defaults={"queued_at": timezone.now()})
    DocumentText.objects.filter(pk=document_id).update(attempts=F("attempts") + 1)
    started = time.monotonic()
    kind = kind_for(content_type=document.content_type, filename=document.filename)
    if kind is None:
        return _end(
            document_id,
            started,
            DocumentText.Status.UNSUPPORTED,
            Reason.UNSUPPORTED_TYPE,
            f"no text extractor for {document.content_type or 'this type'}",
        )
    limit = settings.SEARCH_EXTRACT_MAX_BYTES
    if document.size is not None and document.size > limit:
        return _end(
            document_id,
            started,
            DocumentText.Status.FAILED,
            Reason.TOO_LARGE,
            f"the document is {document.size} bytes, over SEARCH_EXTRACT_MAX_BYTES ({limit})",
        )
    # "document-" as the sync's spool files: storage.spool_prune removes those of a killed worker.
    with tempfile.NamedTemporaryFile(prefix="document-extract-", dir=spool_dir()) as spool:
        try:
            size = _object_spool(key=document.storage_key, spool=spool, max_bytes=limit)
        except RetryableError as error:
            if final_attempt:
                return _end(document_id, started, DocumentText.Status.FAILED, Reason.STORAGE, f"gave up: {error}")
            DocumentText.objects.filter(pk=document_id).update(detail=f"will be retried: {error}")
            raise ExtractionRetry(str(error)) from error
        if size > limit:
            return _end(
                document_id,
                started,
                DocumentText.Status.FAILED,
                Reason.TOO_LARGE,
                f"the stored object is over SEARCH_EXTRACT_MAX_BYTES ({limit} bytes)",
            )
        return _child_run(document_id, started, spool.name, kind)


def _object_spool(*, key: str, spool, max_bytes: int) -> int:
    """Copy the stored object into the spool file, at most max_bytes + 1 of it; return the bytes copied."""
    storage = document_storage()
    copied = 0
    try:
        if isinstance(storage, S3Storage):
            body = s3_client(storage).get_object(Bucket=storage.bucket_name, Key=s3_object_key(storage, key))["Body"]
            chunks = body.iter_chunks(SPOOL_COPY_BYTES)
        else:
            source = storage.open(key, "rb")
            chunks = iter(lambda: source.read(SPOOL_COPY_BYTES), b"")
        for chunk in chunks:
            spool.write(chunk[: max_bytes + 1 - copied])
            copied += len(chunk)
            if copied > max_bytes:
                break  # the rest is never read
        spool.flush()
    except (BotoCoreError, ClientError, OSError) as error:
        raise StorageUnavailable(f"the stored object could not be read: {type(error).__name__}: {error}") from None
    return copied


def _child_run(document_id: int, started: float, path: str, kind: str) -> str:
    """Extract in a warm child process, bounded in time and memory; record what came of it."""
    try:
        result = spool_text_extract(path=path, kind=kind)
    except subprocess.TimeoutExpired:
        limit = settings.SEARCH_EXTRACT_SECONDS
        detail = f"extraction took longer than SEARCH_EXTRACT_SECONDS ({limit} s)"
        return _end(document_id, started, DocumentText.Status.FAILED, Reason.TIMEOUT, detail)
    if result.returncode == 0:
        output = result.stdout.decode("utf-8", "replace")
        return _extracted(document_id, started, output[1:], truncated=output[:1] == "T")
    reason, detail = _child_failure(result)
    return _end(document_id, started, DocumentText.Status.FAILED, reason, detail)


def spool_text_extract(*, path: str, kind: str) -> subprocess.CompletedProcess:
    """A spooled file's text as this worker process's warm children give it, within every limit:
    returncode 0 and the flag ("T": truncated) and text in stdout, else the failure's code and
    standard error. Raises subprocess.TimeoutExpired past SEARCH_EXTRACT_SECONDS."""
    memory = settings.SEARCH_EXTRACT_MEMORY_BYTES
    return extraction_children.extract(
        path=path,
        kind=kind,
        command=_child_command(),
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(settings.BASE_DIR), "LANG": "C.UTF-8"},
        cwd=settings.BASE_DIR,
        limits=Limits(
            seconds=settings.SEARCH_EXTRACT_SECONDS,
            max_output=_child_output_max(),
            documents=settings.SEARCH_EXTRACT_CHILD_DOCUMENTS,
            peak_kib=int(memory * CHILD_PEAK_MEMORY_SHARE) // 1024,
        ),
        keep=settings.SEARCH_EXTRACT_CONCURRENCY,
    )


def _child_output_max() -> int:
    """The most the child may write: its flag, SEARCH_TEXT_MAX_CHARS characters in UTF-8 (4 bytes at
    most each) and the line breaks joining its parts (at most one per character)."""
    return 1 + 5 * SEARCH_TEXT_MAX_CHARS


def _child_command() -> list[str]:
    """How a serving child is started; a child started with other settings is not used again."""
    return [
        sys.executable,
        "-m",
        "documents.search.extraction",
        "--serve",
        "--seconds",
        str(settings.SEARCH_EXTRACT_SECONDS),
        "--max-chars",
        str(SEARCH_TEXT_MAX_CHARS),
        "--max-pages",
        str(SEARCH_EXTRACT_MAX_PAGES),
        "--memory-bytes",
        str(settings.SEARCH_EXTRACT_MEMORY_BYTES),
    ]


def _child_failure(result: subprocess.CompletedProcess) -> tuple[str, str]:
    """The reason and detail of a child that did not end well, from its exit code and standard error."""
    detail = result.stderr.decode("utf-8", "replace").strip()[-500:]
    if result.returncode == EXIT_NO_TEXT:
        return Reason.NO_TEXT_LAYER, detail
    # Under RLIMIT_AS an import can fail to map its library rather than raise MemoryError.
    if result.returncode == EXIT_MEMORY or "MemoryError" in detail or "failed to map segment" in detail:
        return Reason.MEMORY, f"over SEARCH_EXTRACT_MEMORY_BYTES ({settings.SEARCH_EXTRACT_MEMORY_BYTES}): {detail}"
    if result.returncode == EXIT_CORRUPT:
        return Reason.CORRUPT, detail
    return Reason.CORRUPT, f"the extractor ended with {result.returncode}: {detail}"


def _end(document_id: int, started: float, status: str, reason: str, detail: str) -> str:
    seconds = time.monotonic() - started
    DocumentText.objects.filter(pk=document_id).update(
        status=status,
        reason=reason,
        detail=detail[:2000],
        text="",
        truncated=False,
        search_vector=None,
        extractor_version=EXTRACTOR_VERSION,
        seconds=seconds,
        extracted_at=timezone.now(),
    )
    metrics.TEXT_FAILED.labels(reason=reason).inc()
    metrics.TEXT_EXTRACT_SECONDS.observe(seconds)
    logger.warning("document text not extracted: document=%s reason=%s detail=%s", document_id, reason, detail[:200])
    return status


def source_search_config(*, document_id: int) -> str:
    """The text search configuration of the document's source (its sync settings), else SEARCH_CONFIG."""
    chosen = SourceSync.objects.filter(source__documents__pk=document_id).exclude(search_config="")
    return chosen.values_list("search_config", flat=True).first() or settings.SEARCH_CONFIG


def _extracted(document_id: int, started: float, text: str, *, truncated: bool) -> str:
    # PostgreSQL's text holds no NUL; the highlight marks are ours alone (selectors.MARK_START).
    text = text.replace("\x00", "").replace("\ue000", "").replace("\ue001", "")
    config = source_search_config(document_id=document_id)
    rows = DocumentText.objects.filter(pk=document_id)
    with transaction.atomic():
        rows.update(
            status=DocumentText.Status.EXTRACTED,
            reason=Reason.NONE,
            detail="",
            text=text,
            truncated=truncated,
            config=config,
            extractor_version=EXTRACTOR_VERSION,
            seconds=time.monotonic() - started,
            extracted_at=timezone.now(),
            source_id=Subquery(Document.objects.filter(pk=document_id).values("source_id")),
        )
        if connection.vendor == "postgresql":
            _vector_write(rows, config)
    seconds = time.monotonic() - started
    metrics.TEXT_EXTRACTED.inc()
    metrics.TEXT_EXTRACT_SECONDS.observe(seconds)
    logger.info("document text extracted: document=%s chars=%s seconds=%.2f", document_id, len(text), seconds)
    return DocumentText.Status.EXTRACTED


def _vector_write(rows, config: str) -> None:
    try:
        with transaction.atomic():
            rows.update(search_vector=SearchVector("text", config=config))
    except DatabaseError:
        # "string is too long for tsvector": many distinct words; index the first part.
        logger.warning("text search vector over its first %s characters only", VECTOR_FALLBACK_CHARS)
        rows.update(search_vector=SearchVector(Substr("text", 1, VECTOR_FALLBACK_CHARS), config=Value(config)))


def documents_reindex_select(*, source_slug: str | None, since: datetime | None, failed_only: bool):
    """The stored documents `documents_reindex` queues: of one source, stored since a time, or failed only."""
    documents = Document.objects.filter(status=Document.Status.STORED)
    if source_slug:
        documents = documents.filter(source__slug=source_slug)
    if since:
        documents = documents.filter(synced_at__gte=since)
    if failed_only:
        documents = documents.filter(text_record__status=DocumentText.Status.FAILED)
    return documents.order_by("pk")

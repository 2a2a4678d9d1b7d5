"""Downloading one document from Advance and storing it, chunk by chunk, within the attempt's limits."""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from core.errors import RetryableError

from ..advance.client import AdvanceClient, Download
from ..models import Document
from ..object_lock import LockReport, object_lock_verify
from ..retention import document_object_lock
from ..storage import DocumentTooLarge, ObjectLock, StoredObject, document_filename, object_save_stream
from .claim import Attempt, LeaseLost


class SyncTimeExceeded(RetryableError):
    """The attempt ran past DOCUMENT_SYNC_TIME_LIMIT; it stops and is retried like a network failure."""


@dataclass(frozen=True)
class Saved:
    """A document's bytes in storage, and the name and type they were stored under."""

    stored: StoredObject
    filename: str
    content_type: str
    lock: ObjectLock | None = None  # what it was written with
    lock_report: LockReport | None = None  # what the stored object reported after the write


def document_storage_key(document: Document, filename: str) -> str:
    version = document.version
    return "/".join(
        [
            settings.DOCUMENTS_KEY_PREFIX,
            document.source.slug,
            version.work_item.advance_id,
            version.advance_id,
            document.advance_id,
            filename,
        ]
    )


def document_download_store(*, document: Document, attempt: Attempt, lease_lost: threading.Event) -> Saved:
    """Stream the document from Advance into storage, noting on the attempt what it saw.

    Stops with LeaseLost once another attempt owns the document, SyncTimeExceeded past the time
    limit, DocumentTooLarge over the size limit. With its source's retention or its work item's
    legal hold, the object is written locked and must report the lock after the write (else
    RetentionNotReported, or ObjectLockUnavailable where storage cannot lock: failed for good).
    """
    lock = document_object_lock(document=document)
    deadline = time.monotonic() + settings.DOCUMENT_SYNC_TIME_LIMIT
    client = AdvanceClient(document.source)
    url = document.url or client.content_url(document.version.work_item.advance_id, document.advance_id)
    with client.download(url) as download:
        attempt.http_status, attempt.bytes = download.status_code, 0
        if download.content_length is not None and download.content_length > settings.DOCUMENT_MAX_BYTES:
            raise DocumentTooLarge(
                f"the document is {download.content_length} bytes, over the limit of {settings.DOCUMENT_MAX_BYTES}"
            )
        content_type = download.content_type or "application/octet-stream"
        filename = document_filename(
            content_disposition=download.content_disposition, name=document.name, content_type=content_type
        )
        chunks = _chunks_watched(download, attempt, lease_lost, deadline=deadline)
        try:
            stored = object_save_stream(
                key=document_storage_key(document, filename), chunks=chunks, content_type=content_type, lock=lock
            )
        finally:
            attempt.bytes = download.bytes_read
    report = None
    if lock is not None:
        report = object_lock_verify(key=stored.key, version_id=stored.version_id, lock=lock)
    return Saved(stored=stored, filename=filename, content_type=content_type, lock=lock, lock_report=report)


def _chunks_watched(
    download: Download, attempt: Attempt, lease_lost: threading.Event, *, deadline: float
) -> Iterator[bytes]:
    """The download's chunks, stopped once the lease is lost or the deadline passes."""
    for chunk in download.iter_bytes():
        attempt.bytes = download.bytes_read
        if lease_lost.is_set():
            # Another attempt owns the document now: stop rather than upload it twice.
            raise LeaseLost(f"the lease was lost after {download.bytes_read} bytes; another attempt took over")
        if time.monotonic() > deadline:
            # The threads pool enforces no task time limit: a trickling download stops here.
            raise SyncTimeExceeded(
                f"the download took longer than {settings.DOCUMENT_SYNC_TIME_LIMIT} s"
                f" ({download.bytes_read} bytes read)"
            )
        yield chunk

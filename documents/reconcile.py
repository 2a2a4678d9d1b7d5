"""Reconciliation: find the completed versions no webhook announced, and record them like an event would.

Advance documents no retry of webhooks: an event sent while we were down is gone. Its versions
are still listed by Advance's API (GET /WorkItems, GET /WorkItems/{id}/Versions), so each source
is asked, from a watermark, and every completed version whose documents are not stored goes
through the same recording path as an event (documents.recording.version_documents_record).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import PermanentError, RetryableError
from sources.models import Source, SourceSync

from . import metrics
from .advance.client import AdvanceClient
from .advance.errors import AdvanceError
from .events import advance_id_validator
from .models import Document, WorkItemVersion
from .recording import version_documents_record
from .source_sync import source_documents_scope, source_sync_get

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 1000  # a server that ignores skip would otherwise be paged for ever
# Fields a version's completion time may come in (keys case-folded), most telling first.
COMPLETED_FIELDS = ("completeddate", "completedat", "completedon", "modifieddate", "lastmodified", "createddate")
COMPLETED_STATUSES = {"completed", "complete"}


@dataclass(frozen=True)
class FoundVersion:
    work_item_id: str
    work_item_name: str
    version_id: str
    completed_at: datetime | None
    latest: bool = True  # the work item's newest completed version, as far as Advance's list tells


@dataclass
class ReconcileResult:
    since: datetime
    found: list[FoundVersion] = field(default_factory=list)
    missing: list[FoundVersion] = field(default_factory=list)
    recorded: int = 0
    failed: list[tuple[FoundVersion, str]] = field(default_factory=list)
    watermark: datetime | None = None


def _completed_at(item: dict) -> datetime | None:
    for name in COMPLETED_FIELDS:
        value = item.get(name)
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
    return None


def _valid_id(value: object) -> str | None:
    text = str(value or "")
    try:
        advance_id_validator(text)
    except ValidationError:
        return None
    return text


def source_versions_completed(*, source: Source, since: datetime) -> list[FoundVersion]:
    """The source's versions completed at or after `since`, oldest first, from Advance's list calls."""
    sync = source_sync_get(source=source)
    client = AdvanceClient(source)
    query = sync.reconcile_query.replace("{since}", quote(since.astimezone(UTC).isoformat().replace("+00:00", "Z")))
    found = [
        version
        for item in _work_items_listed(client, query)
        for version in _work_item_versions_completed(client, item, since)
    ]
    # Undated versions last: the watermark never moves over them.
    found.sort(key=lambda v: (v.completed_at is None, v.completed_at or since))
    return found


def _work_items_listed(client: AdvanceClient, query: str) -> list[dict]:
    """Every work item the query lists, page after page, each once (ids compared without case)."""
    work_items: list[dict] = []
    seen: set[str] = set()
    skip = 0
    for _ in range(MAX_PAGES):
        page = client.list_work_items(query=query, skip=skip, take=PAGE_SIZE)
        new = [item for item in page if _valid_id(item.get("id")) and str(item["id"]).lower() not in seen]
        for item in new:
            seen.add(str(item["id"]).lower())
            work_items.append(item)
        if len(page) < PAGE_SIZE or not new:
            break  # the last page, or the same page again (a server ignoring skip)
        skip += len(page)
    return work_items


def _work_item_versions_completed(client: AdvanceClient, item: dict, since: datetime) -> list[FoundVersion]:
    """The work item's completed versions, those completed before `since` left out (undated ones kept)."""
    work_item_id = str(item["id"])
    completed = []
    for version in client.list_versions(work_item_id):
        version_id = _valid_id(version.get("id"))
        status = str(version.get("status") or "completed").lower()
        if version_id is not None and status in COMPLETED_STATUSES:
            completed.append((version_id, _completed_at(version)))
    latest = _latest(completed)
    name = str(item.get("name") or "")[:300]
    return [
        FoundVersion(work_item_id, name, version_id, completed_at, latest=version_id == latest)
        for version_id, completed_at in completed
        if completed_at is None or completed_at >= since
    ]


def _latest(completed: list[tuple[str, datetime | None]]) -> str | None:
    """The id of the newest of a work item's completed versions; None when the dates cannot tell."""
    if len(completed) == 1:
        return completed[0][0]
    if not completed or any(completed_at is None for _, completed_at in completed):
        return None
    return max(completed, key=lambda version: version[1])[0]


def _missing(source: Source, found: list[FoundVersion]) -> list[FoundVersion]:
    """The found versions not recorded yet, or recorded with documents that failed."""
    done = {
        (w.lower(), v.lower())
        for w, v in WorkItemVersion.objects.filter(work_item__source=source)
        .exclude(documents__status__in=[Document.Status.FAILED, Document.Status.DEAD])
        .filter(Q(work_item__advance_id__in=[f.work_item_id for f in found]))
        .values_list("work_item__advance_id", "advance_id")
    }
    return [f for f in found if (f.work_item_id.lower(), f.version_id.lower()) not in done]


def source_reconcile(
    *,
    source: Source,
    since: datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReconcileResult:
    """Record and sync every version completed since the watermark (or `since`) whose documents are not stored.

    The watermark moves forward only over versions recorded (or already stored), up to the first
    that could not be: that one is looked for again next time. A dry run records nothing.
    """
    sync = source_sync_get(source=source)
    result = ReconcileResult(since=since or sync.reconcile_watermark or source.created_at)
    result.found = _versions_listed(source, sync, result.since, dry_run=dry_run)
    result.missing = _missing(source, result.found)
    if dry_run:
        return result
    _versions_record(source, result, progress)
    _run_end(sync, result.watermark, "; ".join(f"{found.version_id}: {reason}" for found, reason in result.failed[:5]))
    if result.failed:
        metrics.RECONCILE_FAILURES.inc()
    logger.info(
        "reconciled: source=%s found=%s recorded=%s failed=%s watermark=%s",
        source.slug,
        len(result.found),
        result.recorded,
        len(result.failed),
        result.watermark,
    )
    return result


def _versions_listed(source: Source, sync: SourceSync, since: datetime, *, dry_run: bool) -> list[FoundVersion]:
    """The versions Advance lists as completed since `since`; a listing that fails is the run's error."""
    try:
        return source_versions_completed(source=source, since=since)
    except (AdvanceError, RetryableError) as error:
        if not dry_run:
            _run_end(sync, None, f"listing failed: {error}")
        metrics.RECONCILE_FAILURES.inc()
        raise


def _versions_record(source: Source, result: ReconcileResult, progress: Callable[[int, int], None] | None) -> None:
    """Record the missing versions, oldest first; the watermark follows them up to the first that fails."""
    missing = set(result.missing)
    # Without a version's own list (API v1.1), Advance lists only the work item's newest documents:
    # an older version is recorded without any, rather than with the newest one's bytes under its key.
    latest_only = source_documents_scope(source=source) == SourceSync.DocumentsScope.LATEST
    blocked = False
    for done, found in enumerate(result.found, start=1):
        if found in missing:
            error = _version_record(source, found, fetchable=found.latest or not latest_only)
            if error is None:
                result.recorded += 1
            else:
                result.failed.append((found, error))
                blocked = True
        if not blocked and found.completed_at is not None:
            result.watermark = found.completed_at
        if progress:
            progress(done, len(result.found))


def _version_record(source: Source, found: FoundVersion, *, fetchable: bool) -> str | None:
    """Record one found version as its event would have; the reason when it could not be."""
    payload = {
        "createddate": found.completed_at,
        "data": {
            "workitemid": found.work_item_id,
            "workitemversionid": found.version_id,
            "workitemname": found.work_item_name,
            "documents": [],
        },
    }
    try:
        version_documents_record(
            source=source, payload=payload, recorded_by=WorkItemVersion.RecordedBy.RECONCILE, fetchable=fetchable
        )
    except (PermanentError, RetryableError) as error:
        logger.warning(
            "reconcile could not record: source=%s version=%s error=%s", source.slug, found.version_id, error
        )
        return str(error)
    metrics.RECONCILED_VERSIONS.inc()
    return None


def _run_end(sync: SourceSync, watermark: datetime | None, error: str) -> None:
    with transaction.atomic():
        fields = {"reconcile_last_run_at": timezone.now(), "reconcile_last_error": error[:2000]}
        SourceSync.objects.filter(pk=sync.pk).update(**fields)
        if watermark is not None:
            # Forward only: a run from an earlier --since never moves it back.
            SourceSync.objects.filter(pk=sync.pk).filter(
                Q(reconcile_watermark__isnull=True) | Q(reconcile_watermark__lt=watermark)
            ).update(reconcile_watermark=watermark)


def sources_reconcile_due() -> int:
    """Queue a reconciliation of every active source whose interval has passed; return how many."""
    from .tasks import source_reconcile as source_reconcile_task  # the task module imports this one

    now = timezone.now()
    queued = 0
    for source in Source.objects.filter(is_active=True).order_by("pk"):
        sync = source_sync_get(source=source)
        if not sync.reconcile_interval_minutes or (sync.reconcile_next_at and sync.reconcile_next_at > now):
            continue
        # Conditional: two beats (a misconfiguration) still queue one run.
        taken = SourceSync.objects.filter(pk=sync.pk, reconcile_next_at=sync.reconcile_next_at).update(
            reconcile_next_at=now + timedelta(minutes=sync.reconcile_interval_minutes)
        )
        if taken:
            transaction.on_commit(lambda pk=source.pk: source_reconcile_task.delay(pk), robust=True)
            queued += 1
    return queued


def sources_reconcile_enqueue(*, sources) -> int:
    """Queue a reconciliation of each source now, whatever its interval (an operator's "reconcile now")."""
    from .tasks import source_reconcile as source_reconcile_task  # the task module imports this one

    queued = 0
    for source in sources:
        transaction.on_commit(lambda pk=source.pk: source_reconcile_task.delay(pk), robust=True)
        logger.info("reconciliation queued by hand: source=%s", source.slug)
        queued += 1
    return queued

"""Reads for the admin's dashboard and pages and for the operators' commands: aggregates, not loops."""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Case, Count, DateTimeField, F, Max, Min, Q, QuerySet, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from webhooks.models import Delivery, Source

from .models import Document, DocumentText, WorkItem

WAITING = [Document.Status.PENDING, Document.Status.SYNCING]
GAVE_UP = [Document.Status.FAILED, Document.Status.DEAD]


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


@dataclass(frozen=True)
class DashboardFigures:
    synced_today: int
    synced_week: int
    pending: int
    syncing: int
    failed: int
    dead: int
    oldest_pending_at: datetime | None
    events_waiting: int
    events_failed: int
    today: date
    text_awaiting: int = 0  # full-text search: stored documents awaiting extraction, and failed ones
    text_failed: int = 0

    @property
    def waiting(self) -> int:
        return self.pending + self.syncing


def dashboard_figures(*, now: datetime | None = None) -> DashboardFigures:
    """The dashboard's counts: three aggregate queries, whatever the number of rows."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    day_start = _start_of_day(today)
    week_start = _start_of_day(today - timedelta(days=6))
    documents = Document.objects.aggregate(
        synced_today=Count("pk", filter=Q(status=Document.Status.STORED, synced_at__gte=day_start)),
        synced_week=Count("pk", filter=Q(status=Document.Status.STORED, synced_at__gte=week_start)),
        pending=Count("pk", filter=Q(status=Document.Status.PENDING)),
        syncing=Count("pk", filter=Q(status=Document.Status.SYNCING)),
        failed=Count("pk", filter=Q(status=Document.Status.FAILED)),
        dead=Count("pk", filter=Q(status=Document.Status.DEAD)),
        oldest_pending_at=Min("created_at", filter=Q(status__in=WAITING)),
    )
    # Full-text search: from the text rows' status index, not a join of the (large) texts' table.
    texts = DocumentText.objects.filter(status__in=["awaiting", "failed"]).aggregate(
        text_awaiting=Count("pk", filter=Q(status="awaiting")), text_failed=Count("pk", filter=Q(status="failed"))
    )
    events = Delivery.objects.filter(status__in=[Delivery.Status.ACCEPTED, Delivery.Status.FAILED]).aggregate(
        waiting=Count("pk", filter=Q(status=Delivery.Status.ACCEPTED)),
        failed=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
    )
    return DashboardFigures(
        **documents, **texts, events_waiting=events["waiting"], events_failed=events["failed"], today=today
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    synced: int
    failed: int


def documents_per_day(*, days: int = 30, now: datetime | None = None) -> list[DayCount]:
    """Documents stored, and documents failed or dead, on each of the last `days` days (today last).

    A stored document counts on the day it was stored; a failed or dead one on the day it last
    changed (when it failed). A document failed and then retried successfully counts as stored
    only: the chart shows where documents stand, day by day. One query.
    """
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    since = _start_of_day(first)
    rows = (
        Document.objects.filter(
            Q(status=Document.Status.STORED, synced_at__gte=since) | Q(status__in=GAVE_UP, updated_at__gte=since)
        )
        .annotate(
            day=TruncDate(
                Case(
                    When(status=Document.Status.STORED, then=F("synced_at")),
                    default=F("updated_at"),
                    output_field=DateTimeField(),
                ),
                tzinfo=timezone.get_current_timezone(),
            )
        )
        .order_by()
        .values("day")
        .annotate(
            synced=Count("pk", filter=Q(status=Document.Status.STORED)),
            failed=Count("pk", filter=Q(status__in=GAVE_UP)),
        )
    )
    by_day = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {})
        result.append(DayCount(day=day, synced=row.get("synced", 0), failed=row.get("failed", 0)))
    return result


def documents_latest_failures(*, limit: int = 10) -> list[Document]:
    """The most recently failed or dead documents, with their work item and version."""
    return list(
        Document.objects.filter(status__in=GAVE_UP)
        .select_related("version__work_item", "source")
        .order_by("-updated_at", "-pk")[:limit]
    )


def document_other_versions(*, document: Document) -> list[Document]:
    """The same document in the work item's other versions: same Advance document id or same name.

    Advance gives a document a new id in each version, so the name is what usually matches.
    Newest version first.
    """
    same = Q(advance_id=document.advance_id)
    if document.name:
        same |= Q(name=document.name)
    return list(
        Document.objects.filter(same, version__work_item_id=document.version.work_item_id)
        .exclude(version_id=document.version_id)
        .select_related("version")
        .order_by(F("version__completed_at").desc(nulls_last=True), "-version__created_at", "-pk")
    )


@dataclass(frozen=True)
class SourceStatus:
    source: Source
    counts: dict[str, int]
    oldest_pending_at: datetime | None
    events_failed: int
    last_synced_at: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def sync_status_by_source() -> list[SourceStatus]:
    """Per source: documents by status, the oldest waiting one, failed events, the last sync. Three queries."""
    sources = list(Source.objects.order_by("slug"))
    documents: dict[int, dict] = {}
    for row in (
        Document.objects.order_by()
        .values("source_id", "status")
        .annotate(count=Count("pk"), oldest=Min("created_at"), last=Max("synced_at"))
    ):
        entry = documents.setdefault(row["source_id"], {"counts": {}, "oldest": None, "last": None})
        entry["counts"][row["status"]] = row["count"]
        if row["status"] in WAITING and row["oldest"] and (entry["oldest"] is None or row["oldest"] < entry["oldest"]):
            entry["oldest"] = row["oldest"]
        if row["last"] and (entry["last"] is None or row["last"] > entry["last"]):
            entry["last"] = row["last"]
    failed_events = dict(
        Delivery.objects.filter(status=Delivery.Status.FAILED)
        .order_by()
        .values_list("source_id")
        .annotate(count=Count("pk"))
        .values_list("source_id", "count")
    )
    result = []
    for source in sources:
        entry = documents.get(source.pk, {"counts": {}, "oldest": None, "last": None})
        counts = {status: entry["counts"].get(status, 0) for status in Document.Status.values}
        result.append(
            SourceStatus(
                source=source,
                counts=counts,
                oldest_pending_at=entry["oldest"],
                events_failed=failed_events.get(source.pk, 0),
                last_synced_at=entry["last"],
            )
        )
    return result


def documents_select(
    *,
    work_item: str | None = None,
    deliveries: QuerySet | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
) -> QuerySet:
    """Documents chosen by work item (Advance id or exact name), by the events that announced their
    version, by when they were recorded ([since, until)) and by source slug; all given filters apply."""
    documents = Document.objects.all()
    if work_item:
        documents = documents.filter(
            version__work_item__in=WorkItem.objects.filter(Q(advance_id=work_item) | Q(name=work_item))
        )
    if deliveries is not None:
        documents = documents.filter(version__delivery__in=deliveries)
    if since:
        documents = documents.filter(created_at__gte=since)
    if until:
        documents = documents.filter(created_at__lt=until)
    if source:
        documents = documents.filter(source__slug=source)
    return documents.order_by("pk")


def deliveries_by_reference(reference: str) -> QuerySet:
    """The event rows a reference names: our public id (a UUID) or Advance's eventId."""
    query = Q(event_id=reference)
    with contextlib.suppress(ValueError):
        query |= Q(public_id=uuid.UUID(reference))
    return Delivery.objects.filter(query, status__in=Delivery.EVENT_STATUSES)


def deliveries_prunable(*, received_before: datetime, include_failed: bool = False) -> QuerySet:
    """Delivery log rows received before that time that nothing needs (see services.deliveries_prune)."""
    prunable = (
        Delivery.objects.filter(received_at__lt=received_before, versions__isnull=True)
        .exclude(status=Delivery.Status.ACCEPTED)
        .exclude(duplicates__received_at__gte=received_before)
    )
    if not include_failed:
        prunable = prunable.exclude(status=Delivery.Status.FAILED)
    return prunable

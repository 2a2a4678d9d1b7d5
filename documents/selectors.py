"""Reads for the admin's dashboard and pages and for the operators' commands: aggregates, not loops."""

import contextlib
import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce, Length, TruncDate
from django.utils import timezone

from sources.access import EVERY_SOURCE, SourceScope
from sources.models import Source
from webhooks.models import Delivery

from .compare import DocumentSide
from .models import (
    Document,
    DocumentText,
    StatusCount,
    WorkItem,
    WorkItemHold,
    WorkItemVersion,
    newest_version_first,
)

WAITING = [Document.Status.PENDING, Document.Status.SYNCING]
GAVE_UP = [Document.Status.FAILED, Document.Status.DEAD]


def documents_syncing() -> bool:
    """Whether a live attempt syncs a document now, in any worker (one probe of the status index)."""
    return Document.objects.filter(status=Document.Status.SYNCING, lease_expires_at__gt=timezone.now()).exists()


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


@dataclass(frozen=True)
class DocumentFigures:
    """Documents by status now, those stored today and in the last 7 days, and the oldest waiting one."""

    by_status: dict[str, int]
    synced_today: int
    synced_week: int
    oldest_pending_at: datetime | None  # the oldest pending or syncing document's creation
    today: date

    @property
    def pending(self) -> int:
        return self.by_status[Document.Status.PENDING]

    @property
    def syncing(self) -> int:
        return self.by_status[Document.Status.SYNCING]

    @property
    def failed(self) -> int:
        return self.by_status[Document.Status.FAILED]

    @property
    def dead(self) -> int:
        return self.by_status[Document.Status.DEAD]

    @property
    def waiting(self) -> int:
        return self.pending + self.syncing


def status_counts(
    *, scope: SourceScope = EVERY_SOURCE, events_scope: SourceScope = EVERY_SOURCE
) -> dict[tuple[str, str], int]:
    """How many documents and texts (of `scope`'s sources) and failed events (of `events_scope`'s)
    have each status now: {(kind, status): count}, kinds as StatusCount.Kind, absent when 0.

    On PostgreSQL one read of the counts table the triggers keep (a few rows per source and status,
    however many rows they count); on SQLite the rows are counted."""
    Kind = StatusCount.Kind
    if connection.vendor != "postgresql":
        return _status_counts_counted(scope=scope, events_scope=events_scope)
    rows = StatusCount.objects.filter(
        (scope.q() & Q(kind__in=[Kind.DOCUMENT, Kind.TEXT])) | (events_scope.q() & Q(kind=Kind.EVENT))
    )
    counts = rows.order_by().values_list("kind", "status").annotate(n=Sum("count"))
    return {(kind, status): n for kind, status, n in counts if n}


def _status_counts_counted(*, scope: SourceScope, events_scope: SourceScope) -> dict[tuple[str, str], int]:
    Kind = StatusCount.Kind
    counts: dict[tuple[str, str], int] = {}
    documents = scope.filter(Document.objects.order_by()).values_list("status").annotate(n=Count("pk"))
    counts.update(((Kind.DOCUMENT, status), n) for status, n in documents)
    texts = scope.filter(DocumentText.objects.order_by(), "document__source").values_list("status")
    counts.update(((Kind.TEXT, status), n) for status, n in texts.annotate(n=Count("pk")))
    events = events_scope.filter(Delivery.objects.filter(status=Delivery.Status.FAILED)).count()
    if events:
        counts[(Kind.EVENT, Delivery.Status.FAILED)] = events
    return counts


def document_figures(*, now: datetime | None = None, scope: SourceScope = EVERY_SOURCE) -> DocumentFigures:
    """The documents' figures the dashboard and /metrics show, of the scope's sources."""
    return _document_figures(counts=status_counts(scope=scope), now=now, scope=scope)


def _document_figures(
    *, counts: dict[tuple[str, str], int], now: datetime | None, scope: SourceScope
) -> DocumentFigures:
    """The counts by status from `counts`; the oldest waiting document and the documents stored in
    the last 7 days each from an index over the rows they read (as many as a week brings)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    documents = scope.filter(Document.objects.all()).order_by()
    by_status = {status: counts.get((StatusCount.Kind.DOCUMENT, status), 0) for status in Document.Status.values}
    # One status at a time: the oldest of each is the first entry of its part of the (status,
    # created_at) index, where both at once would be read along created_at from the oldest document.
    oldest = [documents.filter(status=status).aggregate(oldest=Min("created_at"))["oldest"] for status in WAITING]
    oldest_pending_at = min((moment for moment in oldest if moment is not None), default=None)
    # Every source's syncs of the week, by source, the scope's summed here: the rows the week
    # brings, along the sync time's index. Filtered by source in SQL, the planner ANDed in the
    # source index, which grows with every document ever stored.
    week = Document.objects.filter(
        status=Document.Status.STORED, synced_at__gte=_start_of_day(today - timedelta(days=6))
    ).order_by()
    synced = [
        (row["today"], row["week"])
        for row in week.values("source_id").annotate(
            today=Count("pk", filter=Q(synced_at__gte=_start_of_day(today))), week=Count("pk")
        )
        if scope.allows(row["source_id"])
    ]
    return DocumentFigures(
        by_status=by_status,
        synced_today=sum(today for today, _ in synced),
        synced_week=sum(week for _, week in synced),
        oldest_pending_at=oldest_pending_at,
        today=today,
    )


@dataclass(frozen=True)
class DashboardFigures(DocumentFigures):
    events_waiting: int
    events_failed: int
    text_awaiting: int  # full-text search: stored documents awaiting extraction, and failed ones
    text_failed: int


def dashboard_figures(
    *, now: datetime | None = None, scope: SourceScope = EVERY_SOURCE, events_scope: SourceScope = EVERY_SOURCE
) -> DashboardFigures:
    """The dashboard's counts: the documents' figures, the texts awaiting or failing extraction (of
    `scope`'s sources), the events waiting or failed (of `events_scope`'s). The counts by status
    from the counts table; the events waiting (accepted, not processed yet: a backlog, not a
    history) from the status index."""
    counts = status_counts(scope=scope, events_scope=events_scope)
    documents = _document_figures(counts=counts, now=now, scope=scope)
    events_waiting = events_scope.filter(Delivery.objects.filter(status=Delivery.Status.ACCEPTED)).count()
    return DashboardFigures(
        **{field.name: getattr(documents, field.name) for field in fields(documents)},
        text_awaiting=counts.get((StatusCount.Kind.TEXT, DocumentText.Status.AWAITING), 0),
        text_failed=counts.get((StatusCount.Kind.TEXT, DocumentText.Status.FAILED), 0),
        events_waiting=events_waiting,
        events_failed=counts.get((StatusCount.Kind.EVENT, Delivery.Status.FAILED), 0),
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    synced: int
    failed: int


def documents_per_day(
    *, days: int = 30, now: datetime | None = None, scope: SourceScope = EVERY_SOURCE
) -> list[DayCount]:
    """Documents stored, and documents failed or dead, on each of the last `days` days (today last).

    A stored document counts on the day it was stored; a failed or dead one on the day it last
    changed (when it failed). A document failed and then retried successfully counts as stored
    only: the chart shows where documents stand, day by day. Of the scope's sources. One query.
    """
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    since = _start_of_day(first)
    # By source, the scope's summed here, as the week's syncs above (document_figures).
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
        .values("day", "source_id")
        .annotate(
            synced=Count("pk", filter=Q(status=Document.Status.STORED)),
            failed=Count("pk", filter=Q(status__in=GAVE_UP)),
        )
    )
    by_day: dict[date, list[int]] = {}
    for row in rows:
        if scope.allows(row["source_id"]):
            counts = by_day.setdefault(row["day"], [0, 0])
            counts[0] += row["synced"]
            counts[1] += row["failed"]
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        synced, failed = by_day.get(day, (0, 0))
        result.append(DayCount(day=day, synced=synced, failed=failed))
    return result


def documents_latest_failures(*, limit: int = 10, scope: SourceScope = EVERY_SOURCE) -> list[Document]:
    """The most recently failed or dead documents of the scope's sources, with their work item and version."""
    return list(
        scope.filter(Document.objects.filter(status__in=GAVE_UP))
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
        .order_by(*newest_version_first("version__"), "-pk")
    )


def work_item_documents(*, work_item: WorkItem) -> list[Document]:
    """Every document of the work item with its version: newest version first, by name within one."""
    return list(
        Document.objects.filter(version__work_item=work_item)
        .select_related("version")
        .order_by(*newest_version_first("version__"), "name", "pk")
    )


def _count_of(rows: QuerySet, key: str) -> Coalesce:
    """The number of `rows` whose `key` is the outer row's: counted for the rows of a page only
    (a subquery), where a join grouped by every row of the list counted them all."""
    counted = rows.filter(**{key: OuterRef("pk")}).order_by().values(key).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def versions_with_document_count(versions: QuerySet) -> QuerySet:
    """The versions, each with `document_count`."""
    return versions.annotate(document_count=_count_of(Document.objects.all(), "version"))


def work_items_with_version_count(work_items: QuerySet) -> QuerySet:
    """The work items, each with `version_count`."""
    return work_items.annotate(version_count=_count_of(WorkItemVersion.objects.all(), "work_item"))


CONTENT_TYPES_SQL = """
WITH RECURSIVE types(content_type) AS (
    SELECT MIN(content_type) FROM documents_document WHERE {sources}
    UNION ALL
    SELECT (
        SELECT MIN(d.content_type) FROM documents_document d
        WHERE d.content_type > types.content_type AND {sources}
    )
    FROM types WHERE types.content_type IS NOT NULL
)
SELECT content_type FROM types WHERE content_type IS NOT NULL
"""


def documents_content_types(*, scope: SourceScope = EVERY_SOURCE) -> list[str]:
    """The distinct content types among the scope's sources' documents, sorted, without the empty one.

    One query that hops along the content-type index from one type to the next (a loose index scan):
    a few lookups however many documents there are, where DISTINCT read them all (17 ms at 100,000).
    """
    if scope.every or not scope.ids:
        sources, params = ("TRUE" if scope.every else "FALSE"), []
    else:
        sources, params = f"source_id IN ({', '.join(['%s'] * len(scope.ids))})", sorted(scope.ids)
    with connection.cursor() as cursor:
        cursor.execute(CONTENT_TYPES_SQL.format(sources=sources), params * 2)
        return [content_type for (content_type,) in cursor.fetchall() if content_type]


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
    return _within(documents, "created_at", since=since, until=until, source=source).order_by("pk")


def _within(
    rows: QuerySet, moment: str, *, since: datetime | None, until: datetime | None, source: str | None
) -> QuerySet:
    """The rows whose `moment` falls in [since, until), of the source with that slug; each filter when given."""
    if since:
        rows = rows.filter(**{f"{moment}__gte": since})
    if until:
        rows = rows.filter(**{f"{moment}__lt": until})
    if source:
        rows = rows.filter(source__slug=source)
    return rows


def resync_statuses(*, include_stored: bool = False, failed_only: bool = False) -> list[str]:
    """The statuses a resync queues again: failed and dead; pending too (a lost message) unless
    failed_only; stored too with include_stored. Syncing ones are left to the worker that holds them."""
    statuses = [Document.Status.FAILED, Document.Status.DEAD]
    if not failed_only:
        statuses.append(Document.Status.PENDING)
        if include_stored:
            statuses.append(Document.Status.STORED)
    return statuses


@dataclass(frozen=True)
class ResyncSelection:
    failed_events: list[Delivery]  # replayed: each records, and queues, its own documents again
    document_ids: list[int]  # the selected documents a resync queues (resync_statuses), besides those events'
    selected: int  # documents selected, besides those events', whatever their status
    include_stored: bool
    failed_only: bool


def resync_select(
    *,
    work_item: str | None = None,
    deliveries: QuerySet | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
    include_stored: bool = False,
    failed_only: bool = False,
) -> ResyncSelection:
    """What a resync of these filters (documents_select's) takes: the failed events among them and the documents.

    Failed events are chosen when no work item is named (their processing stopped, maybe before
    any document was recorded): those of `deliveries` or all, received in [since, until), of the
    source. Their documents are left out of the documents: a replayed event queues them itself.
    """
    failed_events = Delivery.objects.none()
    if not work_item:
        failed_events = (deliveries if deliveries is not None else Delivery.objects.all()).filter(
            status=Delivery.Status.FAILED
        )
        failed_events = _within(failed_events, "received_at", since=since, until=until, source=source)
    failed_events = list(failed_events.order_by("pk").only("pk", "status"))
    documents = documents_select(
        work_item=work_item, deliveries=deliveries, since=since, until=until, source=source
    ).exclude(version__delivery__in=[delivery.pk for delivery in failed_events])
    statuses = resync_statuses(include_stored=include_stored, failed_only=failed_only)
    return ResyncSelection(
        failed_events=failed_events,
        document_ids=list(documents.filter(status__in=statuses).values_list("pk", flat=True)),
        selected=documents.count(),
        include_stored=include_stored,
        failed_only=failed_only,
    )


def deliveries_by_reference(reference: str, *, source: str | None = None) -> QuerySet:
    """The event rows a reference names: our public id (a UUID) or Advance's eventId; of the source with that slug."""
    query = Q(event_id=reference)
    with contextlib.suppress(ValueError):
        query |= Q(public_id=uuid.UUID(reference))
    events = Delivery.objects.filter(query, status__in=Delivery.EVENT_STATUSES)
    return events.filter(source__slug=source) if source else events


# The archive: retention and legal holds ------------------------------------------------------


@dataclass(frozen=True)
class ArchiveState:
    """What keeps a work item's (or a source's) stored objects from being deleted or overwritten now."""

    held: int  # work items under a legal hold
    retained: int  # stored documents retained until later
    retained_until: datetime | None  # the latest of their dates
    last_hold: "WorkItemHold | None" = None  # a work item's latest hold record

    @property
    def locked(self) -> bool:
        return bool(self.held or self.retained)


def _retained(documents: QuerySet) -> tuple[int, datetime | None]:
    figures = documents.filter(status=Document.Status.STORED, retain_until__gt=timezone.now()).aggregate(
        count=Count("pk"), until=Max("retain_until")
    )
    return figures["count"], figures["until"]


def work_item_archive(*, work_item: WorkItem) -> ArchiveState:
    retained, until = _retained(Document.objects.filter(version__work_item=work_item))
    last = WorkItemHold.objects.filter(work_item=work_item).order_by("-created_at", "-pk").first()
    return ArchiveState(held=int(work_item.legal_hold), retained=retained, retained_until=until, last_hold=last)


def source_archive(*, source_id: int) -> ArchiveState:
    retained, until = _retained(Document.objects.filter(source_id=source_id))
    held = WorkItem.objects.filter(source_id=source_id, legal_hold=True).count()
    return ArchiveState(held=held, retained=retained, retained_until=until)


def work_item_stored_count(*, work_item: WorkItem) -> int:
    """The stored objects of every version of the work item: what a legal hold is put on."""
    return Document.objects.filter(version__work_item=work_item, status=Document.Status.STORED).count()


def work_item_versions(*, work_item: WorkItem) -> list[WorkItemVersion]:
    """The work item's versions, newest first."""
    return list(work_item.versions.newest_first())


def version_documents_compared(*, version: WorkItemVersion) -> list[DocumentSide]:
    """The version's documents as the comparison reads them, by name: their hash and their text's
    length, or why there is no text to compare (two queries). The texts themselves are not read
    here: `document_texts_compared` reads those of the pairs compared."""
    documents = list(Document.objects.filter(version=version).order_by("name", "pk"))
    texts = {
        text.document_id: text
        for text in DocumentText.objects.filter(document__version=version)
        .only("document_id", "status", "reason", "truncated")
        .annotate(length=Length("text"))
    }
    return [_side(document, texts.get(document.pk)) for document in documents]


def document_texts_compared(document_ids: list[int]) -> dict[int, str]:
    """The extracted texts of these documents, by document key (one query)."""
    return dict(DocumentText.objects.filter(document_id__in=document_ids).values_list("document_id", "text"))


def _side(document: Document, text: DocumentText | None) -> DocumentSide:
    side = {"pk": document.pk, "advance_id": document.advance_id, "name": document.name}
    if document.status != Document.Status.STORED:
        return DocumentSide(**side, unavailable=f"not stored ({document.get_status_display().lower()})")
    side["sha256"] = document.sha256
    if text is None or text.status == DocumentText.Status.AWAITING:
        return DocumentSide(**side, unavailable="text not extracted yet")
    if text.status == DocumentText.Status.FAILED:
        return DocumentSide(**side, unavailable=f"text extraction failed: {text.get_reason_display()}")
    if text.status == DocumentText.Status.UNSUPPORTED:
        return DocumentSide(**side, unavailable=f"no text: {text.get_reason_display()}")
    return DocumentSide(**side, length=text.length, truncated=text.truncated)

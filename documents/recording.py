"""Recording a work item version and its documents, from an event or found by reconciliation."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import PermanentError
from sources.models import Source, SourceSync
from webhooks.models import Delivery

from .advance.client import AdvanceClient
from .advance.errors import AdvanceError
from .events import advance_id_validator
from .models import Document, WorkItem, WorkItemVersion
from .post_processing import version_post_processing_check
from .queueing import documents_enqueue
from .source_sync import source_documents_scope

logger = logging.getLogger(__name__)


def event_documents_record(*, delivery: Delivery, payload: dict) -> WorkItemVersion:
    """Record the event's work item, version and documents, and queue each document's sync.

    Safe to run again (a replay): rows are not duplicated and only documents not stored yet are
    queued; failed ones are given another chance.
    """
    return version_documents_record(source=delivery.source, delivery=delivery, payload=payload)


def version_documents_record(
    *,
    source: Source,
    payload: dict,
    delivery: Delivery | None = None,
    recorded_by: str = WorkItemVersion.RecordedBy.WEBHOOK,
    post_processing: bool = False,
    fetchable: bool = True,
) -> WorkItemVersion:
    """Record a work item version and its documents (from an event, or found by reconciliation); queue their sync.

    The one recording path: an event and a reconciliation of the same version meet on the same
    rows (one version per work item and id, one document per version and id), so whichever comes
    second records nothing new and downloads nothing again. Not fetchable: recorded without
    documents, none listed (the only list would be another version's).
    """
    data = payload["data"]
    # Before the transaction: the list may come from Advance (network I/O).
    listed, documents_from = _documents_listed(source, data, delivery, fetchable=fetchable)
    with transaction.atomic():
        work_item = _work_item_save(source, data)
        version = _version_save(
            work_item, payload, delivery=delivery, recorded_by=recorded_by, documents_from=documents_from
        )
        _documents_add(version, source, listed)
        if post_processing:
            _version_post_processing_await(version)
    logger.info(
        "version recorded: delivery=%s version=%s documents=%s by=%s",
        delivery.pk if delivery else None,
        version.pk,
        len(listed),
        recorded_by,
    )
    return version


def _documents_listed(
    source: Source, data: dict, delivery: Delivery | None, *, fetchable: bool
) -> tuple[list[dict], str]:
    """The documents to record and where their list came from: none when the version is not
    fetchable, else the event's own list, else (the event names none) Advance's."""
    if not fetchable:
        return [], WorkItemVersion.DocumentsFrom.NOT_FETCHABLE
    listed = data.get("documents") or []
    if listed:
        return listed, WorkItemVersion.DocumentsFrom.EVENT
    return _documents_list(source, data["workitemid"], data["workitemversionid"], delivery)


def _documents_list(
    source: Source, work_item_id: str, version_id: str, delivery: Delivery | None
) -> tuple[list[dict], str]:
    """The version's documents from Advance's list calls, and which list they came from.

    The version's own list where the API has it (v2.0), else the work item's latest list, whose
    documents may belong to a later version. Never the one after the other: a 404 from the
    version's own list may mean the version is gone (Advance keeps five), and the latest list
    would then store another version's documents under this one's name.
    """
    client = AdvanceClient(source)
    try:
        if source_documents_scope(source=source) == SourceSync.DocumentsScope.VERSION:
            found = client.list_version_documents(work_item_id, version_id)
            documents_from = WorkItemVersion.DocumentsFrom.VERSION
        else:
            found = client.list_documents(work_item_id)
            documents_from = WorkItemVersion.DocumentsFrom.LATEST
    except AdvanceError as error:
        # Refused for good (404, another origin): the event fails with this reason (a RetryableError
        # is retried); anything else would leave it accepted, re-queued forever.
        raise PermanentError(f"the work item's documents could not be listed: {error}") from error
    listed = []
    for item in found:
        try:
            advance_id_validator(item["id"])
        except ValidationError:
            logger.warning(
                "skipped a listed document with an invalid id: delivery=%s", delivery.pk if delivery else None
            )
            continue
        listed.append({"id": item["id"], "name": item["name"][:300], "url": item.get("url", "")})
    return listed, documents_from


def _work_item_save(source: Source, data: dict) -> WorkItem:
    """The work item, created on first sight; a new name from the event replaces the old one."""
    work_item, created = WorkItem.objects.get_or_create(
        source=source, advance_id=data["workitemid"], defaults={"name": data.get("workitemname", "")}
    )
    if not created and data.get("workitemname") and work_item.name != data["workitemname"]:
        WorkItem.objects.filter(pk=work_item.pk).update(name=data["workitemname"], updated_at=timezone.now())
    return work_item


def _version_save(
    work_item: WorkItem, payload: dict, *, delivery: Delivery | None, recorded_by: str, documents_from: str
) -> WorkItemVersion:
    """The version, created on first sight with what the payload says of it."""
    created_by = payload.get("createdby") or {}
    version, created = WorkItemVersion.objects.get_or_create(
        work_item=work_item,
        advance_id=payload["data"]["workitemversionid"],
        defaults={
            "delivery": delivery,
            "completed_at": payload.get("createddate"),
            "created_by_id": created_by.get("id", ""),
            "created_by_login": created_by.get("loginname", ""),
            "created_by_account_type": created_by.get("accounttype", ""),
            "recorded_by": recorded_by,
            "documents_from": documents_from,
        },
    )
    if not created and delivery is not None and version.delivery_id is None:
        # Reconciled first, announced later: the event becomes the version's provenance.
        WorkItemVersion.objects.filter(pk=version.pk, delivery__isnull=True).update(delivery=delivery)
    return version


def _documents_add(version: WorkItemVersion, source: Source, listed: list[dict]) -> None:
    """Add the listed documents not recorded yet, give failed ones another chance, queue every pending one."""
    Document.objects.bulk_create(
        [
            Document(
                version=version,
                source=source,
                advance_id=item["id"],
                name=item.get("name", ""),
                url=item.get("url", ""),
            )
            for item in listed
        ],
        ignore_conflicts=True,  # a replay, or two deliveries racing: the constraint keeps one row
    )
    Document.objects.filter(version=version, status__in=[Document.Status.FAILED, Document.Status.DEAD]).update(
        status=Document.Status.PENDING, last_error=""
    )
    documents_enqueue(documents=Document.objects.filter(version=version, status=Document.Status.PENDING))


def _version_post_processing_await(version: WorkItemVersion) -> None:
    """Make the version wait for post-processing, decided once the transaction commits."""
    # A version completed once stays completed: a re-delivered event does not undo it.
    WorkItemVersion.objects.filter(pk=version.pk, post_processing_status=WorkItemVersion.PostProcessing.NONE).update(
        post_processing_status=WorkItemVersion.PostProcessing.PENDING
    )
    version_pk = version.pk
    transaction.on_commit(lambda: version_post_processing_check(version_id=version_pk), robust=True)

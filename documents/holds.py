"""Legal holds on work items: put on and lifted on every stored object of every version, recorded
with who, when and why; a document stored while its work item is held is written held."""

import logging
from dataclasses import dataclass

from django.db import transaction

from audit.services import change_record

from .models import Document, WorkItem, WorkItemHold
from .object_lock import object_legal_hold_set, storage_lock_refusal
from .storage import StorageUnavailable

logger = logging.getLogger(__name__)


class HoldRefused(Exception):
    """The hold (or its release) was refused (its message says why); nothing was changed."""


@dataclass(frozen=True)
class HoldOutcome:
    record: WorkItemHold
    done: int  # objects whose hold was put on (lifted)
    failed: list[str]  # "key: storage's answer" for each object storage refused

    @property
    def held(self) -> bool:
        return self.record.work_item.legal_hold


def _stored_objects(work_item: WorkItem) -> list[Document]:
    return list(
        Document.objects.filter(version__work_item=work_item, status=Document.Status.STORED)
        .exclude(storage_key="")
        .only("pk", "storage_key", "storage_version_id")
        .order_by("pk")
    )


def _objects_set(work_item: WorkItem, *, on: bool) -> tuple[int, list[str]]:
    done, failed = 0, []
    for document in _stored_objects(work_item):
        try:
            object_legal_hold_set(key=document.storage_key, version_id=document.storage_version_id, on=on)
        except StorageUnavailable as error:
            failed.append(f"{document.storage_key}: {error}")
            continue
        done += 1
    return done, failed


def _actor_name(actor, via: str) -> str:
    return actor.get_username() if actor is not None else (via or "unknown")


def work_item_hold(*, work_item: WorkItem, actor, reason: str, via: str = "") -> HoldOutcome:
    """Put a legal hold on every stored object of the work item's versions, and on those stored later.

    The one way a hold is put on (the admin and the command come here). `actor` is the user, or
    None with `via` naming the command. Refused (HoldRefused, nothing changed) without a reason or
    where storage cannot lock. Putting it on a held work item again puts it on every object again
    (what failed before included) and records it again.
    """
    reason = reason.strip()
    if not reason:
        raise HoldRefused("A legal hold needs a reason.")
    if refusal := storage_lock_refusal():
        raise HoldRefused(refusal)
    # Held first: a document stored from now on is written held, and one whose sync read the work
    # item before this looks again once stored (document_hold_follow), so none is missed.
    WorkItem.objects.filter(pk=work_item.pk).update(legal_hold=True)
    done, failed = _objects_set(work_item, on=True)
    work_item.refresh_from_db()
    return _hold_recorded(work_item, WorkItemHold.Action.HOLD, actor, via, reason, done, failed)


def work_item_hold_release(*, work_item: WorkItem, actor, reason: str = "", via: str = "") -> HoldOutcome:
    """Lift the work item's legal hold from every stored object; it stays held if storage refuses one.

    The one way a hold is lifted. Refused (HoldRefused, nothing changed) when it is not held or
    storage cannot be asked. Objects still retained by their source's retention stay locked by it.
    """
    if not WorkItem.objects.filter(pk=work_item.pk, legal_hold=True).exists():
        raise HoldRefused(f"The work item {work_item.advance_id} is not under a legal hold.")
    if refusal := storage_lock_refusal():
        raise HoldRefused(refusal)
    # Not held first: a document stored meanwhile lifts its own hold once stored (document_hold_follow).
    WorkItem.objects.filter(pk=work_item.pk).update(legal_hold=False)
    done, failed = _objects_set(work_item, on=False)
    with transaction.atomic():
        if failed:
            # Some objects are still held: so is the work item, until a release lifts them all.
            WorkItem.objects.filter(pk=work_item.pk).update(legal_hold=True)
        work_item.refresh_from_db()
        return _hold_recorded(work_item, WorkItemHold.Action.RELEASE, actor, via, reason.strip(), done, failed)


def _hold_recorded(
    work_item: WorkItem, action: str, actor, via: str, reason: str, done: int, failed: list[str]
) -> HoldOutcome:
    """The hold put on or lifted, recorded on the work item (WorkItemHold), in the audit log and in
    the log: who, why, what it reached."""
    record = WorkItemHold.objects.create(
        work_item=work_item,
        action=action,
        actor=actor,
        actor_name=_actor_name(actor, via),
        reason=reason,
        objects_done=done,
        objects_failed="\n".join(failed),
    )
    change_record(
        actor=record.actor,
        obj=work_item,
        before={"legal_hold": record.action != WorkItemHold.Action.HOLD},
        after={
            "legal_hold": work_item.legal_hold,
            "reason": record.reason,
            "objects": record.objects_done,
            "objects refused": record.objects_failed,
        },
        action="held" if record.action == WorkItemHold.Action.HOLD else "hold lifted",
        source=work_item.source_id,
    )
    what = "put on" if action == WorkItemHold.Action.HOLD else "lifted"
    logger.info("legal hold %s: work_item=%s objects=%s failed=%s", what, work_item.pk, done, len(failed))
    return HoldOutcome(record=record, done=done, failed=failed)


def document_hold_follow(*, document_id: int, written_held: bool) -> None:
    """After a document was stored: give its object the hold its work item has now, if it was
    written otherwise (a hold put on or lifted while it synced). Logged, never raised: it is stored."""
    document = (
        Document.objects.filter(pk=document_id, status=Document.Status.STORED)
        .select_related("version__work_item")
        .first()
    )
    if document is None or document.version.work_item.legal_hold == written_held:
        return
    held = document.version.work_item.legal_hold
    try:
        object_legal_hold_set(key=document.storage_key, version_id=document.storage_version_id, on=held)
    except Exception:
        logger.exception("legal hold not followed: document=%s held=%s", document_id, held)
        return
    logger.info("legal hold followed after the sync: document=%s held=%s", document_id, held)

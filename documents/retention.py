"""A source's retention (S3 Object Lock on every object stored for it): setting it, what a new
object of a document is written with, and the readiness check that storage can still lock."""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from audit.services import change_record
from sources.models import Source, SourceSync, retention_refusal

from .models import Document, WorkItem
from .object_lock import storage_lock_refusal
from .source_sync import source_sync_get
from .storage import ObjectLock

logger = logging.getLogger(__name__)


class RetentionRefused(Exception):
    """The retention setting was refused (its message says why); nothing was changed."""


class ObjectLockMissing(Exception):
    """Readiness: a source has retention, or a work item a legal hold, and storage cannot lock."""


def source_retention_refusal(*, mode: str, days: int | None) -> str | None:
    """Why this retention cannot be set, or None: a mode without a period (or the reverse), or
    storage that cannot lock (the filesystem, a bucket without Object Lock). Turning it off is always allowed."""
    if refusal := retention_refusal(mode, days):
        return refusal
    if mode:
        return storage_lock_refusal()
    return None


def source_retention_set(*, source: Source, mode: str, days: int | None, actor=None) -> SourceSync:
    """Set the source's retention (mode '' and days None: off) for the objects stored from now on.

    The one way it changes (the admin and the command come here). Raises RetentionRefused and
    changes nothing when it cannot be honoured. Objects stored before keep what they were written with.
    """
    if mode not in SourceSync.RetentionMode.values:
        raise RetentionRefused(f"Unknown retention mode {mode!r}: governance or compliance.")
    days = days or None
    if refusal := source_retention_refusal(mode=mode, days=days):
        raise RetentionRefused(refusal)
    sync = source_sync_get(source=source)
    before = (sync.retention_mode, sync.retention_days)
    SourceSync.objects.filter(pk=sync.pk).update(
        retention_mode=mode, retention_days=days, retention_changed_at=timezone.now()
    )
    sync.refresh_from_db()
    change_record(
        actor=actor,
        obj=sync,
        before={"retention_mode": before[0], "retention_days": before[1]},
        after={"retention_mode": sync.retention_mode, "retention_days": sync.retention_days},
        action="retention set" if mode else "retention off",
    )
    logger.info(
        "retention set: source=%s mode=%s days=%s before=%s/%s actor=%s",
        source.slug,
        mode or "off",
        days,
        before[0] or "off",
        before[1],
        getattr(actor, "pk", None),
    )
    return sync


def document_object_lock(*, document: Document) -> ObjectLock | None:
    """The lock a new object of this document is written with: its source's retention from now,
    and a legal hold while its work item is held; None when neither. Read fresh, not from the row
    the sync loaded: a hold put on meanwhile counts."""
    sync = SourceSync.objects.filter(source_id=document.source_id).only("retention_mode", "retention_days").first()
    held = WorkItem.objects.filter(versions__pk=document.version_id, legal_hold=True).exists()
    mode, days = (sync.retention_mode, sync.retention_days) if sync else ("", None)
    if not (mode and days) and not held:
        return None
    # Whole seconds: S3 reports the date to the second, and the check compares against what was asked.
    retain_until = (timezone.now() + timedelta(days=days)).replace(microsecond=0) if mode and days else None
    return ObjectLock(mode=mode.upper() if retain_until else "", retain_until=retain_until, legal_hold=held)


def documents_locked(*, at=None) -> Q:
    """Matches the documents whose stored object may be neither deleted nor overwritten now:
    retained until later, or of a work item under a legal hold. (Document filter.)"""
    at = at or timezone.now()
    return Q(status=Document.Status.STORED) & (Q(retain_until__gt=at) | Q(version__work_item__legal_hold=True))


def retention_readiness_check() -> None:
    """Raises ObjectLockMissing while a source has retention (or a work item a hold) that storage cannot lock."""
    wanted = SourceSync.objects.exclude(retention_mode="").exists() or WorkItem.objects.filter(legal_hold=True).exists()
    if wanted and (refusal := storage_lock_refusal()):
        raise ObjectLockMissing(refusal)

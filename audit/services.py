"""Writing the audit log. Two entry points, for every app:

- `access_record(request, action, documents=..., query=..., outcome=...)`: staff saw documents (a
  page, a download or presigned URL, a preview, a text, an export, a search); `access_recorded` is
  the same as a context manager around a view, which also records a refusal (404, 403).
- `change_record(actor=..., obj=..., before=..., after=..., action=...)`: someone changed a setting;
  `object_snapshot` and `object_snapshot_stored` give its before and after.

Each writes one row with one INSERT and no other query, and lets an error rise: an access that
cannot be recorded is not served. `audit_prune` is the only way rows leave.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection, models, transaction
from django.http import Http404, HttpRequest, HttpResponseBase

from core.http import client_address
from core.text import text_storable

from .models import AccessRecord, ChangeRecord

logger = logging.getLogger(__name__)

QUERY_MAX_CHARS = 2000
SELECTED_IDS_SHOWN = 200

# Fields whose values never enter a record, whatever their model: passwords, secrets (and their
# encrypted form), digests of keys, keys. A record says only that such a field changed.
SECRET_FIELD = re.compile(r"password|secret|digest|encrypted|^key$")
SECRET_CHANGED = "changed"  # noqa: S105 - what a record shows in place of a secret
SECRET_HIDDEN = "(secret)"  # noqa: S105


def _user_of(user) -> tuple[int | None, str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return None, ""
    return user.pk, user.get_username()


def access_record(
    request: HttpRequest,
    action: str,
    *,
    documents: models.Model | int | Iterable[models.Model | int] | None = None,
    query: str = "",
    outcome: int,
    detail: str = "",
    count: int | None = None,
    source: models.Model | int | None = None,
) -> AccessRecord:
    """Record one access by the request's user, from the request's address (core.http.client_address).

    `action` is an AccessRecord.Action. `documents`: the document (an instance, whose name and
    source are copied, or a key, e.g. of one that does not exist), or several (their keys go into
    `query`, their number into `count`). `query`: the search or the export's filters. `outcome`:
    the HTTP status answered; `detail`: what was answered beyond it (e.g. "presigned URL").
    `source`: the source of several documents (one document's own is copied from it).
    """
    document_id = source_id = None
    document_name = ""
    if isinstance(documents, models.Model):
        document_id, source_id = documents.pk, getattr(documents, "source_id", None)
        document_name = text_storable(documents, 500)
    elif isinstance(documents, int):
        document_id = documents
    elif documents is not None:
        keys = [getattr(document, "pk", document) for document in documents]
        count = len(keys) if count is None else count
        shown = ", ".join(str(key) for key in keys[:SELECTED_IDS_SHOWN])
        selected = f"selected: {shown}{' ...' if len(keys) > SELECTED_IDS_SHOWN else ''}"
        query = f"{query} ({selected})" if query else selected
    if source_id is None and source is not None:
        source_id = getattr(source, "pk", source)
    user_id, username = _user_of(getattr(request, "user", None))
    return AccessRecord.objects.create(
        user_id=user_id,
        username=username,
        address=client_address(request.META),
        action=action,
        document_id=document_id,
        document_name=document_name,
        source_id=source_id,
        query=text_storable(query, QUERY_MAX_CHARS),
        count=count,
        status=outcome,
        detail=text_storable(detail, 200),
    )


@dataclass
class AccessNote:
    """What a view found out while answering, for the record `access_recorded` writes at its end."""

    documents: Any = None
    query: str = ""
    count: int | None = None
    outcome: int = 500
    detail: str = ""
    source: Any = None

    def respond(self, response: HttpResponseBase, detail: str | None = None) -> HttpResponseBase:
        """Note the response's status (and what it was), and return it."""
        self.outcome = response.status_code
        if detail is not None:
            self.detail = detail
        return response


@contextmanager
def access_recorded(
    request: HttpRequest, action: str, *, documents: Any = None, query: str = "", count: int | None = None
) -> Iterator[AccessNote]:
    """Record the access the block answers, once, whatever it answers: the status the block notes
    with `note.respond(response)`, 404 or 403 for Http404 or PermissionDenied (raised on), 500 for
    anything else. The block may fill in the note's documents, query, count, detail and source."""
    note = AccessNote(documents=documents, query=query, count=count)
    try:
        yield note
    except Http404:
        note.outcome, note.detail = 404, note.detail or "not found"
        raise
    except PermissionDenied:
        note.outcome, note.detail = 403, note.detail or "permission denied"
        raise
    finally:
        access_record(
            request,
            action,
            documents=note.documents,
            query=note.query,
            outcome=note.outcome,
            detail=note.detail,
            count=note.count,
            source=note.source,
        )


def object_snapshot(obj: models.Model | None) -> dict[str, Any]:
    """The object's stored fields (keys of relations by their column, e.g. source_id) as they are in
    memory: the before or after of `change_record`. Secrets are in it; change_record keeps them out."""
    if obj is None:
        return {}
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def object_snapshot_stored(obj: models.Model) -> dict[str, Any]:
    """The snapshot of the object as the database holds it now (one query), e.g. before a form's
    values, already on the instance, are saved. Empty for an object not saved yet."""
    if obj.pk is None:
        return {}
    return object_snapshot(type(obj)._default_manager.filter(pk=obj.pk).first())


def _noise(obj: models.Model) -> set[str]:
    # Written on every save: not a change anyone made.
    return {
        field.attname
        for field in obj._meta.concrete_fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    }


def _redacted(before: dict[str, Any], after: dict[str, Any], *, ignore: set[str]) -> tuple[dict, dict]:
    """The fields that differ (all of them when one side is empty), each secret as "changed"."""
    whole = not before or not after
    shown_before, shown_after = {}, {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if name in ignore and not whole:
            continue
        if not whole and old == new:
            continue
        if SECRET_FIELD.search(name):
            if old == new or (not old and not new):
                continue
            if before:
                shown_before[name] = SECRET_HIDDEN if old else ""
            if after:
                shown_after[name] = SECRET_CHANGED if new else ""
            continue
        if before:
            shown_before[name] = old
        if after:
            shown_after[name] = new
    return shown_before, shown_after


def change_record(
    *,
    actor,
    obj: models.Model,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    action: str,
    source: models.Model | int | None = None,
) -> ChangeRecord | None:
    """Record that `actor` changed `obj`: one row, with the fields that differ between `before` and
    `after`; None (nothing written) when an action "changed" changed nothing.

    Call it from the service that makes the change, after the write, from any app:

        before = object_snapshot_stored(grant)          # or {} for a new object
        ... the write ...
        change_record(actor=user, obj=grant, before=before, after=object_snapshot(grant), action="granted")

    `actor`: the user (None, or an anonymous user, for a command or a task). `before`/`after`:
    field values (object_snapshot), empty or None for a created or deleted object; only what
    differs is kept, every field when one side is empty. Fields named like secrets (password,
    secret, digest, encrypted, or just key) are never stored: only "changed" when they differ.
    `action`: a short verb, "created", "changed", "deleted", or the service's own ("issued",
    "rotated", "revoked", "granted", "held"...). `source`: the source the change concerns; by
    default the object's `source_id`, or the object itself when it is a source.
    """
    before, after = before or {}, after or {}
    ignore = _noise(obj)
    shown_before, shown_after = _redacted(before, after, ignore=ignore)
    if action == "changed" and not shown_before and not shown_after:
        return None
    if source is None:
        source = getattr(obj, "source_id", None)
        if source is None and obj._meta.label == "sources.Source":
            source = obj.pk or before.get("id")
    user_id, username = _user_of(actor)
    record = ChangeRecord.objects.create(
        actor_id=user_id,
        username=username,
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk or before.get("id") or ""),
        object_repr=str(obj)[:200],
        source_id=getattr(source, "pk", source),
        before=shown_before,
        after=shown_after,
    )
    logger.info(
        "change recorded: record=%s action=%s object=%s:%s", record.pk, action, obj._meta.label, record.object_id
    )
    return record


def audit_prune(*, older_than: datetime) -> tuple[int, int]:
    """Delete the access and change records made before `older_than`, and record that it did (a
    change record "pruned"). Return the numbers of access and change records deleted.

    The only way out of the log: on PostgreSQL the tables' trigger lets a DELETE through only for
    rows older than the time this transaction names (the setting audit.prune_before, local to it).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('audit.prune_before', %s, true)", [older_than.isoformat()])
        accesses, _ = AccessRecord.objects.filter(at__lt=older_than).delete()
        changes, _ = ChangeRecord.objects.filter(at__lt=older_than).delete()
        ChangeRecord.objects.create(
            action="pruned",
            content_type=ContentType.objects.get_for_model(AccessRecord),
            object_repr=f"records made before {older_than:%Y-%m-%d %H:%M:%S %Z}"[:200],
            before={"access records": accesses, "change records": changes, "made before": older_than},
            after={"access records": 0, "change records": 0},
        )
    logger.info("audit log pruned: before=%s access_records=%s change_records=%s", older_than, accesses, changes)
    return accesses, changes

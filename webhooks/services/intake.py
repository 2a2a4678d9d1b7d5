"""Intake: what a webhook call stores and answers, before the answer leaves."""

import functools
import json
import logging
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework import serializers

from core.http import client_address  # noqa: F401 - part of this module's interface
from core.text import text_storable
from sources.models import Source

from .. import metrics
from ..models import Delivery, WebhookToken
from ..payloads import (
    Envelope,
    EnvelopeSerializer,
    PayloadError,
    payload_parse,
    payload_validate,
    serializer_errors_detail,
)
from ..redaction import CREDENTIAL_HEADER_NAMES
from ..registry import Answer, EventType, event_type_get, event_type_names
from ..signatures import SignatureMatch

logger = logging.getLogger(__name__)

# How many times a call is stored again when the event it duplicates is pruned as it is logged.
RECEIVE_ATTEMPTS = 3


@dataclass(frozen=True)
class WebhookCaller:
    """Who made an authenticated webhook call: a source, and the token it used (None for HMAC)."""

    source: Source
    token: WebhookToken | None = None
    signature: SignatureMatch | None = None  # an HMAC call's SignatureMatch, recorded as seen once it is answered


@dataclass(frozen=True)
class Receipt:
    """What the endpoint answers: the event's delivery row (its id and public id) and whether it is new."""

    delivery_id: int
    public_id: uuid.UUID
    created: bool


class DeliveryRejected(Exception):
    def __init__(self, delivery: Delivery, detail: object):
        super().__init__(delivery.rejection_cause)
        self.delivery = delivery
        self.detail = detail


def headers_loggable(meta: dict) -> dict[str, str]:
    """The request's headers from a WSGI environ, without credentials."""
    headers = {}
    for key, value in meta.items():
        name = _header_name(key)
        if name is not None and value:
            headers[name] = text_storable(value, 1000)
    return headers


@functools.lru_cache(maxsize=512)
def _header_name(key: str) -> str | None:
    """The header a WSGI environ key stands for ("HTTP_X_FOO" is "X-Foo"), or None for a key that
    is no header or a header that carries a credential. Cached: requests repeat the same keys."""
    if key.startswith("HTTP_"):
        name = key[5:].replace("_", "-").title()
    elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        name = key.replace("_", "-").title()
    else:
        return None
    return None if name.lower() in CREDENTIAL_HEADER_NAMES else text_storable(name, 200)


def delivery_reject(
    *,
    http_status: int,
    cause: str,
    source: Source | None = None,
    token: WebhookToken | None = None,
    raw_body: bytes = b"",
    headers: dict | None = None,
    remote_addr: str | None = None,
    event_id: str = "",
    event_type: str = "",
) -> Delivery:
    """Log a refused delivery."""
    delivery = Delivery.objects.create(
        source=source,
        token=token,
        status=Delivery.Status.REJECTED,
        http_status=http_status,
        rejection_cause=text_storable(cause, 500),
        raw_body=raw_body,
        headers=headers or {},
        remote_addr=remote_addr,
        event_id=text_storable(event_id, 200),
        event_type=text_storable(event_type, 100),
    )
    logger.info("delivery rejected: delivery=%s status=%s cause=%s", delivery.pk, http_status, cause)
    metrics.webhook_rejected(http_status=http_status, cause=cause)
    return delivery


def _validated(serializer_class: type[serializers.Serializer], payload: dict) -> dict:
    try:
        return payload_validate(serializer_class, payload)
    except serializers.ValidationError as error:
        raise PayloadError("missing or malformed field", serializer_errors_detail(error.detail)) from None


def event_validate(payload: dict) -> tuple[str, str, dict]:
    """Return (eventId, canonical event type, validated payload) or raise PayloadError."""
    if not payload:
        detail = "The body is empty; a JSON object with eventId and eventType is expected."
        raise PayloadError("empty body", {"detail": detail})
    envelope = _validated(EnvelopeSerializer, payload)
    event_type = event_type_get(envelope["eventtype"])
    if event_type is None or event_type.process is None:
        raise PayloadError(
            "unknown event type",
            {"eventType": [f"Unknown event type; accepted: {', '.join(event_type_names())}."]},
        )
    return envelope["eventid"], event_type.name, _validated(event_type.serializer_class, payload)


def event_receive(
    *,
    source: Source | None = None,
    token: WebhookToken | None = None,
    raw_body: bytes,
    payload: dict | None = None,
    headers: dict,
    remote_addr: str | None,
) -> Receipt:
    """Store a delivery durably; the relay in the workers (webhooks.relay) publishes its processing.

    A new (source, eventId) is accepted; the same again is logged as a duplicate of the first.
    Raises DeliveryRejected (after logging it) for a body that is not an acceptable event.
    `payload` is the body already parsed (case-folded), when the caller has it. The source is the
    token's when no source is given (HMAC calls have a source and no token).
    """
    source = source or token.source
    fields = dict(source=source, token=token, raw_body=raw_body, headers=headers, remote_addr=remote_addr)
    event_id, event_type = _event_checked(payload=payload, **fields)
    fields.update(event_id=event_id, event_type=event_type)
    for _ in range(RECEIVE_ATTEMPTS - 1):
        try:
            return _event_store(fields)
        except (Delivery.DoesNotExist, IntegrityError):
            # The stored event was pruned between the two statements: this call is a new event again.
            logger.info("the event a call duplicates was pruned as it came; storing it as new: source=%s", source.slug)
    return _event_store(fields)


def _event_store(fields: dict) -> Receipt:
    """A new event's row, or a duplicate's pointing at the stored event. Raises
    Delivery.DoesNotExist or IntegrityError if the stored event was deleted (pruned) meanwhile."""
    # In autocommit each statement commits before the answer; inside a caller's transaction a
    # savepoint keeps that transaction usable after an IntegrityError.
    atomic = transaction.atomic if connection.in_atomic_block else nullcontext
    try:
        # The row is the outbox: due_at empty means no message announced it yet, and the relay takes it.
        with atomic():
            receipt = _delivery_insert(status=Delivery.Status.ACCEPTED, http_status=202, **fields)
    except IntegrityError:
        # The unique constraint, not a check in Python, decides what is a duplicate.
        with atomic():
            return _duplicate_record(fields=fields)
    source = fields["source"]
    logger.info("event accepted: delivery=%s type=%s source=%s", receipt.delivery_id, fields["event_type"], source.slug)
    metrics.WEBHOOK_ACCEPTED.inc()
    return receipt


def _event_checked(*, payload: dict | None, raw_body: bytes, **logged: object) -> tuple[str, str]:
    """The event's (eventId, canonical type); a body that is no acceptable event is logged as
    refused and raises DeliveryRejected."""
    try:
        event_id, event_type, _ = event_validate(payload_parse(raw_body) if payload is None else payload)
    except PayloadError as error:
        delivery = delivery_reject(http_status=400, cause=error.cause, raw_body=raw_body, **logged)
        raise DeliveryRejected(delivery, error.detail) from None
    return event_id, event_type


def _duplicate_record(*, fields: dict) -> Receipt:
    """Log a delivery of an event stored already, pointing at the stored one."""
    source = fields["source"]
    original = Delivery.objects.get(source=source, event_id=fields["event_id"], status__in=Delivery.EVENT_STATUSES)
    Delivery.objects.create(status=Delivery.Status.DUPLICATE, http_status=200, duplicate_of=original, **fields)
    logger.info("duplicate delivery: event=%s source=%s", original.pk, source.slug)
    metrics.WEBHOOK_DUPLICATE.inc()
    return Receipt(delivery_id=original.pk, public_id=original.public_id, created=False)


# The columns a new event's row gives; the database fills every other one with the model's
# default (db_default, migration 0006). Written as SQL once rather than through Model.objects.create,
# which builds and compiles an INSERT of every column per request: the intake's largest cost after
# the statement itself (docs/performance.md). Values are bound by the server and the statement is
# prepared by psycopg after a few runs (DATABASES' OPTIONS in config/settings/base.py).
_INSERTED = ("public_id", "source", "token", "raw_body", "headers", "remote_addr", "event_id", "event_type")
_INSERTED += ("status", "http_status")
_DELIVERY_INSERT = "INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}".format(  # noqa: S608
    table=Delivery._meta.db_table,
    columns=", ".join(Delivery._meta.get_field(name).column for name in _INSERTED),
    values=", ".join(["%s"] * len(_INSERTED)),
    pk=Delivery._meta.pk.column,
)


def _delivery_insert(
    *,
    source: Source,
    token: WebhookToken | None,
    raw_body: bytes,
    headers: dict,
    remote_addr: str | None,
    event_id: str,
    event_type: str,
    status: str,
    http_status: int,
) -> Receipt:
    """Store a new event's delivery row: the request's one INSERT, committed before the answer."""
    public_id = uuid.uuid4()
    # The id as 32 hex digits: what SQLite's column holds, and a spelling PostgreSQL's uuid reads.
    values = [public_id.hex, source.pk, token.pk if token else None, raw_body, json.dumps(headers), remote_addr]
    values += [text_storable(event_id, 200), text_storable(event_type, 100), status, http_status]
    with connection.cursor() as cursor:
        cursor.execute(_DELIVERY_INSERT, values)
        delivery_id = cursor.fetchone()[0]
    return Receipt(delivery_id=delivery_id, public_id=public_id, created=True)


def interview_receive(
    *,
    source: Source | None = None,
    token: WebhookToken | None = None,
    event_type: EventType,
    envelope: Envelope,
    method: str,
    raw_body: bytes,
    query_string: str,
    headers: dict,
    remote_addr: str | None,
) -> Answer:
    """Answer an interview call through its event type's provider, and log the call. Never raises
    for what the request or the provider did: a failing provider yields its fallback."""
    source = source or token.source
    started = time.monotonic()
    answer = event_type.answer(
        source=source, event_name=envelope.event_name, payload=envelope.payload, raw_body=raw_body
    )
    duration_ms = round((time.monotonic() - started) * 1000)
    delivery = Delivery.objects.create(
        source=source,
        token=token,
        event_type=event_type.name,
        method=method[:10],
        query_string=text_storable(query_string, 4000),
        raw_body=raw_body,
        headers=headers,
        remote_addr=remote_addr,
        duration_ms=duration_ms,
        processed_at=timezone.now(),
        **_interview_logged(envelope=envelope, answer=answer),
    )
    metrics.interview_answered(http_status=answer.status, fallback=answer.fallback)
    log = logger.warning if answer.fallback or answer.status >= 400 else logger.info
    log(
        "interview call answered: delivery=%s type=%s name=%s status=%s by=%s ms=%s fallback=%s",
        delivery.pk,
        event_type.name,
        envelope.event_name,
        answer.status,
        answer.answered_by,
        duration_ms,
        answer.fallback,
    )
    return answer


def _interview_logged(*, envelope: Envelope, answer: Answer) -> dict[str, object]:
    """The delivery log's fields that say what the interview call was and how it was answered."""
    event_id = envelope.payload.get("eventid")
    refused = answer.status >= 400
    if refused:
        status = Delivery.Status.REJECTED
    else:
        status = Delivery.Status.FALLBACK if answer.fallback else Delivery.Status.ANSWERED
    return {
        "event_id": text_storable(event_id, 200) if isinstance(event_id, str) else "",
        "event_name": text_storable(envelope.event_name, 200),
        "status": status,
        "http_status": answer.status,
        "rejection_cause": text_storable(answer.error, 500) if refused else "",
        "answered_by": text_storable(answer.answered_by, 300),
        "answer_size": len(answer.body),
        "last_error": text_storable(answer.error, 100_000),
    }


def delivery_enqueue_on_commit(*, delivery_id: int) -> None:
    """Queue the delivery's processing once the current transaction commits, never failing it:
    a broker outage must not turn a stored event into a 5xx; the sweep queues it again."""

    # A function, not functools.partial: when a robust on_commit callback fails, Django logs its
    # __qualname__, which a partial lacks, and that AttributeError escaped as a 500.
    def enqueue() -> None:
        delivery_enqueue(delivery_id=delivery_id)

    transaction.on_commit(enqueue, robust=True)


def delivery_enqueue(*, delivery_id: int) -> None:
    from ..tasks import delivery_process  # the task module imports this one

    delivery_process.delay(delivery_id)

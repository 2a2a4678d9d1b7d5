"""Intake: what a webhook call stores and answers, before the answer leaves."""

import ipaddress
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Field
from django.utils import timezone
from rest_framework import serializers

from .. import metrics
from ..models import Delivery, Source, WebhookToken
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


def text_storable(value: object, max_length: int) -> str:
    """A string PostgreSQL can store: NUL characters removed, lone surrogates replaced, cut to length.

    Request data goes into text columns and jsonb; either refuses NUL, and psycopg cannot encode a
    lone surrogate. A database error there would turn what a sender put in a request into a 5xx.
    """
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "")[:max_length]


def client_address(meta: dict) -> str | None:
    """The caller's IP address: REMOTE_ADDR, or behind WEBHOOK_TRUSTED_PROXIES proxies the address
    the outermost trusted proxy put into X-Forwarded-For. None when it is not an IP address."""
    address = meta.get("REMOTE_ADDR") or ""
    proxies = settings.WEBHOOK_TRUSTED_PROXIES
    forwarded = meta.get("HTTP_X_FORWARDED_FOR") or ""
    if proxies > 0 and forwarded:
        # Each proxy appends the address it got the request from: only the last `proxies` entries
        # were written by proxies we trust; whatever comes before is the client's to choose.
        hops = [hop.strip() for hop in forwarded.split(",")]
        address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class WebhookCaller:
    """Who made an authenticated webhook call: a source, and the token it used (None for HMAC)."""

    source: Source
    token: WebhookToken | None = None
    signature: SignatureMatch | None = None  # an HMAC call's SignatureMatch, recorded as seen once it is answered


@dataclass(frozen=True)
class Receipt:
    """What the endpoint answers: the event's delivery row and whether it is new."""

    delivery: Delivery
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
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        if name.lower() not in CREDENTIAL_HEADER_NAMES and value:
            headers[text_storable(name, 200)] = text_storable(value, 1000)
    return headers


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
    try:
        # The row is the outbox: due_at empty means no message announced it yet, and the relay
        # takes it. In autocommit this is the request's one statement, committed before the
        # answer; inside a caller's transaction a savepoint keeps that transaction usable after
        # a duplicate's IntegrityError.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            delivery = _delivery_insert(status=Delivery.Status.ACCEPTED, http_status=202, **fields)
    except IntegrityError:
        # The unique constraint, not a check in Python, decides what is a duplicate.
        return _duplicate_record(fields=fields)
    logger.info("event accepted: delivery=%s type=%s source=%s", delivery.pk, event_type, source.slug)
    metrics.WEBHOOK_ACCEPTED.inc()
    return Receipt(delivery=delivery, created=True)


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
    return Receipt(delivery=original, created=False)


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    # Every concrete field but the primary key, in column order, with (python value, database
    # value) of its default when that is the same for every row, else None.
    columns: list[tuple[Field, tuple[object, object] | None]]


_INSERTS: dict[str, _CompiledInsert | None] = {}


def _insert_compiled(wrapper) -> _CompiledInsert | None:
    """The Delivery INSERT for this connection, compiled once per process; None where the ORM
    must write the row (a backend without RETURNING, or a field computed when it is saved)."""
    if wrapper.alias in _INSERTS:
        return _INSERTS[wrapper.alias]
    meta, quote = Delivery._meta, wrapper.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    compiled = None
    set_on_save = any(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) for field in fields)
    if wrapper.features.can_return_columns_from_insert and meta.concrete_fields[0].primary_key and not set_on_save:
        sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(  # noqa: S608 - names from the model
            quote(meta.db_table),
            ", ".join(quote(field.column) for field in fields),
            ", ".join(["%s"] * len(fields)),
            quote(meta.pk.column),
        )
        columns = []
        for field in fields:
            if field.has_default() and callable(field.default):
                columns.append((field, None))  # uuid4, now, dict: one per row
            else:
                value = field.get_default()
                columns.append((field, (value, field.get_db_prep_save(value, wrapper))))
        compiled = _CompiledInsert(sql=sql, columns=columns)
    _INSERTS[wrapper.alias] = compiled
    return compiled


try:  # psycopg 3
    from django.db.backends.postgresql.base import ServerBindingCursor
except ImportError:  # no psycopg 3: the INSERT goes through Django's own cursor
    ServerBindingCursor = None
else:
    _PREPARE_ONLY_WHEN_ASKED = 2**31  # executions before psycopg would prepare a statement by itself

    class _InsertCursor(ServerBindingCursor):
        prepared = True

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=self.prepared, binary=binary)


def _insert_cursor(wrapper):
    """A cursor for the INSERT, inside Django's connection (its transaction, error wrapping and
    query log). On PostgreSQL its values are bound by the server, and the statement is prepared
    once per connection: psycopg's default client-side binding quoted the row's values into the
    SQL text in Python, and PostgreSQL parsed and planned it again for every request. Not prepared
    behind a transaction pooler (DISABLE_SERVER_SIDE_CURSORS, see the README), where the next
    transaction may run on a server connection that never saw the statement."""
    if wrapper.vendor != "postgresql" or ServerBindingCursor is None:
        return wrapper.cursor()
    # What Django's cursor() does before it makes its own cursor.
    wrapper.close_if_health_check_failed()
    wrapper.ensure_connection()
    wrapper.validate_thread_sharing()
    raw = wrapper.connection
    cursor = _InsertCursor(raw)
    if wrapper.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        cursor.prepared = False
    elif raw.prepare_threshold is None:
        # psycopg prepares nothing on a connection without a threshold (Django's default). Its
        # client-side cursors, Django's, never prepare: this makes only ours prepare.
        raw.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
    return wrapper.make_debug_cursor(cursor) if wrapper.queries_logged else wrapper.make_cursor(cursor)


def _delivery_insert(**values) -> Delivery:
    """Delivery.objects.create(**values), the INSERT compiled once per process and its values
    prepared from the given ones without a model instance (the ORM's __init__ and its preparation
    of all 23 fields cost the intake a fifth of its CPU). Every field is written (its default when
    not given), as the ORM would; relations are given as objects (`source=`) or ids (`source_id=`).
    No signal is connected to Delivery."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy: fields ask it a lot
    compiled = _insert_compiled(wrapper)
    if compiled is None:
        return Delivery.objects.create(**values)
    row, params, related = [None], [], []
    for field, constant in compiled.columns:
        if field.attname in values:
            value = values[field.attname]
        elif field.name in values:  # a relation given as its object
            obj = values[field.name]
            related.append((field, obj))
            value = None if obj is None else getattr(obj, field.target_field.attname)
        elif constant is not None:
            row.append(constant[0])
            params.append(constant[1])
            continue
        else:
            value = field.get_default()
        row.append(value)
        params.append(field.get_db_prep_save(value, wrapper))
    with _insert_cursor(wrapper) as cursor:
        cursor.execute(compiled.sql, params)
        row[0] = cursor.fetchone()[0]
    delivery = Delivery.from_db(wrapper.alias, None, row)  # the pk comes first among concrete fields
    for field, obj in related:
        field.set_cached_value(delivery, obj)
    return delivery


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

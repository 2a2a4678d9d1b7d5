import hashlib
import hmac
import logging
import secrets
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import serializers

from .models import Delivery, Source, WebhookToken
from .payloads import Envelope, EnvelopeSerializer, PayloadError, payload_parse, serializer_errors_detail
from .registry import Answer, EventType, RetryableError, event_type_get, event_type_names

logger = logging.getLogger(__name__)

KEY_PREFIX = "whk_"
LOOKUP_LENGTH = len(KEY_PREFIX) + 8
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Headers never written to the delivery log.
CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}


# Sources -----------------------------------------------------------------------------------


def source_save(
    *,
    slug: str,
    api_base_url: str,
    auth_base_url: str,
    client_name: str,
    principal_name: str,
    principal_password: str | None,
    name: str = "",
    update: bool = False,
) -> tuple[Source, bool]:
    """Create a source, or with update=True change an existing one. Return it and whether it is new."""
    source = Source.objects.filter(slug=slug).first()
    created = source is None
    if not created and not update:
        raise ValueError(f"A source with the slug {slug!r} exists already (use --update to change it).")
    source = source or Source(slug=slug)
    source.name = name or source.name
    source.api_base_url = api_base_url.rstrip("/")
    source.auth_base_url = auth_base_url.rstrip("/")
    source.client_name = client_name
    source.principal_name = principal_name
    if principal_password is not None:
        source.set_principal_password(principal_password)
    source.full_clean()
    source.save()
    return source, created


# Tokens ------------------------------------------------------------------------------------


def _key_digest(key: str) -> str:
    # The key carries 256 random bits: a fast hash is right, a password hasher would only slow intake.
    return hashlib.sha256(key.encode()).hexdigest()


def token_issue(*, source: Source, name: str, expires_at: datetime | None = None) -> tuple[WebhookToken, str]:
    """Create a token and return it with its key; the key is never stored or shown again."""
    key = f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
    token = WebhookToken.objects.create(
        source=source, name=name, expires_at=expires_at, lookup=key[:LOOKUP_LENGTH], digest=_key_digest(key)
    )
    logger.info("webhook token issued: token=%s source=%s", token.pk, source.slug)
    return token, key


def token_authenticate(*, key: str) -> WebhookToken | None:
    """The usable token whose key this is, or None. Compares digests in constant time."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = _key_digest(key)
    now = timezone.now()
    found = None
    for token in WebhookToken.objects.select_related("source").filter(lookup=key[:LOOKUP_LENGTH]):
        if hmac.compare_digest(token.digest, digest):
            found = token
    if found is None or not found.is_usable(now) or not found.source.is_active:
        return None
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per token, not one per request.
        WebhookToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found


def token_revoke(*, token: WebhookToken) -> bool:
    """Revoke the token; return False when it was revoked already."""
    revoked = WebhookToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        logger.info("webhook token revoked: token=%s", token.pk)
    return bool(revoked)


# Intake ------------------------------------------------------------------------------------


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
        if name.lower() not in CREDENTIAL_HEADERS and value:
            headers[name] = str(value)[:1000]
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
        rejection_cause=cause[:500],
        raw_body=raw_body,
        headers=headers or {},
        remote_addr=remote_addr,
        event_id=event_id[:200],
        event_type=event_type[:100],
    )
    logger.info("delivery rejected: delivery=%s status=%s cause=%s", delivery.pk, http_status, cause)
    return delivery


def event_validate(payload: dict) -> tuple[str, str, dict]:
    """Return (eventId, canonical event type, validated payload) or raise PayloadError."""
    if not payload:
        raise PayloadError("empty body", {"detail": "The body is empty; a JSON object with eventId and eventType is expected."})
    envelope = EnvelopeSerializer(data=payload)
    if not envelope.is_valid():
        raise PayloadError("missing or malformed field", serializer_errors_detail(envelope.errors))
    event_type = event_type_get(envelope.validated_data["eventtype"])
    if event_type is None or event_type.process is None:
        raise PayloadError(
            "unknown event type",
            {"eventType": [f"Unknown event type; accepted: {', '.join(event_type_names())}."]},
        )
    serializer = event_type.serializer_class(data=payload)
    if not serializer.is_valid():
        raise PayloadError("missing or malformed field", serializer_errors_detail(serializer.errors))
    return envelope.validated_data["eventid"], event_type.name, serializer.validated_data


def event_receive(
    *, token: WebhookToken, raw_body: bytes, payload: dict | None = None, headers: dict, remote_addr: str | None
) -> Receipt:
    """Store a delivery durably and queue its processing after commit.

    A new (source, eventId) is accepted; the same again is logged as a duplicate of the first.
    Raises DeliveryRejected (after logging it) for a body that is not an acceptable event.
    `payload` is the body already parsed (case-folded), when the caller has it.
    """
    source = token.source
    try:
        event_id, event_type, _ = event_validate(payload_parse(raw_body) if payload is None else payload)
    except PayloadError as error:
        delivery = delivery_reject(
            http_status=400, cause=error.cause, source=source, token=token,
            raw_body=raw_body, headers=headers, remote_addr=remote_addr,
        )
        raise DeliveryRejected(delivery, error.detail) from None

    fields = dict(
        source=source, token=token, event_id=event_id, event_type=event_type,
        raw_body=raw_body, headers=headers, remote_addr=remote_addr,
    )
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(status=Delivery.Status.ACCEPTED, http_status=202, **fields)
            # robust: a broker outage must not turn a stored event into a 5xx; the sweep re-queues it.
            transaction.on_commit(partial(delivery_enqueue, delivery_id=delivery.pk), robust=True)
    except IntegrityError:
        # The unique constraint, not a check in Python, decides what is a duplicate.
        original = Delivery.objects.get(source=source, event_id=event_id, status__in=Delivery.EVENT_STATUSES)
        Delivery.objects.create(status=Delivery.Status.DUPLICATE, http_status=200, duplicate_of=original, **fields)
        logger.info("duplicate delivery: event=%s source=%s", original.pk, source.slug)
        return Receipt(delivery=original, created=False)
    logger.info("event accepted: delivery=%s type=%s source=%s", delivery.pk, event_type, source.slug)
    return Receipt(delivery=delivery, created=True)


def interview_receive(
    *,
    token: WebhookToken,
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
    started = time.monotonic()
    answer = event_type.answer(
        source=token.source, event_name=envelope.event_name, payload=envelope.payload, raw_body=raw_body
    )
    duration_ms = round((time.monotonic() - started) * 1000)
    event_id = envelope.payload.get("eventid")
    if answer.status >= 400:
        status = Delivery.Status.REJECTED
    else:
        status = Delivery.Status.FALLBACK if answer.fallback else Delivery.Status.ANSWERED
    delivery = Delivery.objects.create(
        source=token.source,
        token=token,
        event_id=event_id[:200] if isinstance(event_id, str) else "",
        event_type=event_type.name,
        event_name=envelope.event_name,
        status=status,
        http_status=answer.status,
        rejection_cause=answer.error[:500] if answer.status >= 400 else "",
        method=method,
        query_string=query_string[:4000],
        raw_body=raw_body,
        headers=headers,
        remote_addr=remote_addr,
        answered_by=answer.answered_by[:300],
        duration_ms=duration_ms,
        answer_size=len(answer.body),
        last_error=answer.error,
        processed_at=timezone.now(),
    )
    log = logger.warning if answer.fallback or answer.status >= 400 else logger.info
    log(
        "interview call answered: delivery=%s type=%s name=%s status=%s by=%s ms=%s fallback=%s",
        delivery.pk, event_type.name, envelope.event_name, answer.status, answer.answered_by, duration_ms, answer.fallback,
    )
    return answer


def delivery_enqueue(*, delivery_id: int) -> None:
    from .tasks import delivery_process  # the task module imports this one

    delivery_process.delay(delivery_id)


# Processing --------------------------------------------------------------------------------


def delivery_process(*, delivery_id: int, final_attempt: bool = False) -> None:
    """Hand an accepted event to its type's handler. Safe to run twice.

    A RetryableError is recorded and raised again for the task to retry, unless this was the
    final attempt; any other error fails the delivery with its traceback.
    """
    delivery = Delivery.objects.select_related("source").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.ACCEPTED:
        return
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    try:
        event_type = event_type_get(delivery.event_type)
        if event_type is None:
            raise LookupError(f"no handler registered for {delivery.event_type!r}")
        serializer = event_type.serializer_class(data=payload_parse(bytes(delivery.raw_body)))
        serializer.is_valid(raise_exception=True)
        event_type.process(delivery=delivery, payload=serializer.validated_data)
    except RetryableError as error:
        logger.warning("delivery processing will be retried: delivery=%s error=%s", delivery.pk, error)
        if final_attempt:
            _delivery_fail(delivery, traceback.format_exc())
        else:
            Delivery.objects.filter(pk=delivery.pk).update(last_error=str(error))
        raise
    except (PayloadError, serializers.ValidationError, LookupError, ValueError):
        logger.exception("delivery processing failed: delivery=%s", delivery.pk)
        _delivery_fail(delivery, traceback.format_exc())
        return
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.ACCEPTED).update(
        status=Delivery.Status.PROCESSED, processed_at=timezone.now(), last_error=""
    )


def _delivery_fail(delivery: Delivery, error: str) -> None:
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.ACCEPTED).update(
        status=Delivery.Status.FAILED, processed_at=timezone.now(), last_error=error
    )


def delivery_replay(*, delivery: Delivery) -> bool:
    """Process an event again (a failed or processed one); return False for a row that is not an event."""
    if delivery.status not in (Delivery.Status.PROCESSED, Delivery.Status.FAILED):
        return False
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.ACCEPTED, processed_at=None)
        transaction.on_commit(partial(delivery_enqueue, delivery_id=delivery.pk), robust=True)
    logger.info("delivery replayed: delivery=%s", delivery.pk)
    return True


def deliveries_requeue_stalled() -> int:
    """Queue again the accepted events that never got processed (lost message, broker down at commit)."""
    cutoff = timezone.now() - timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    stalled = list(
        Delivery.objects.filter(status=Delivery.Status.ACCEPTED, received_at__lt=cutoff).values_list("pk", flat=True)[:1000]
    )
    for delivery_id in stalled:
        delivery_enqueue(delivery_id=delivery_id)
    if stalled:
        logger.warning("re-queued %s stalled deliveries", len(stalled))
    return len(stalled)

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework import serializers

from config import metrics

from .crypto import secret_rotate
from .dispatch import publish_soon
from .models import Delivery, Source, WebhookToken
from .payloads import Envelope, EnvelopeSerializer, PayloadError, payload_parse, serializer_errors_detail
from .registry import Answer, EventType, RetryableError, event_type_get, event_type_names
from .retry import DUE_SLACK, retry_countdown
from .signatures import HmacConfig, SignatureError, SignedRequest, secret_check, signature_verify

logger = logging.getLogger(__name__)

KEY_PREFIX = "whk_"
LOOKUP_LENGTH = len(KEY_PREFIX) + 8
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Headers never written to the delivery log. Signatures are not secrets, but with the body beside
# them they would let whoever reads the log try to guess a weak HMAC secret offline.
CREDENTIAL_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "webhook-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-signature",
}
AUTH_FAILURES_KEY = "webhooks:auth-failures:{address}:{window}"


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
    moved = not created and (source.api_base_url, source.auth_base_url) != (
        api_base_url.rstrip("/"),
        auth_base_url.rstrip("/"),
    )
    if moved and principal_password is None:
        # Otherwise the stored password would go to the new server at the next log-in.
        raise ValueError("Changing Advance's URLs needs the password again (ADVANCE_PRINCIPAL_PASSWORD).")
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


def source_hmac_config(source: Source) -> HmacConfig:
    return HmacConfig(
        algorithm=source.hmac_algorithm,
        encoding=source.hmac_encoding,
        signed_material=source.hmac_signed_material,
        code_location=source.hmac_code_location,
        header_name=source.hmac_header_name,
        prefix=source.hmac_prefix,
        timestamp_header=source.hmac_timestamp_header,
        tolerance_seconds=source.hmac_tolerance_seconds,
    )


def source_hmac_configure(*, source: Source, **hmac_settings: object) -> None:
    """Make the source authenticate by HMAC, with these settings (algorithm=, encoding=,
    signed_material=, code_location=, header_name=, prefix=, timestamp_header=, tolerance_seconds=).
    Raises ValidationError for settings that do not fit together."""
    source.auth_method = Source.AuthMethod.HMAC
    for name, value in hmac_settings.items():
        setattr(source, f"hmac_{name}", value)
    source.full_clean()
    source.save()
    logger.info("source authenticates by hmac: source=%s settings=%s", source.slug, sorted(hmac_settings))


def source_hmac_secret_set(*, source: Source, secret: str, keep_previous: bool = True) -> None:
    """Store a new HMAC secret (encrypted). With keep_previous the current one stays accepted as the
    previous one, for the calls Advance signed before it regenerated; without, it is refused at once."""
    try:
        secret_check(secret, config=source_hmac_config(source))
    except ValueError as error:
        raise ValueError(f"Unusable HMAC secret: {error}.") from None
    source.set_hmac_secret(secret, keep_previous=keep_previous)
    secret_fields = ["hmac_secret_encrypted", "hmac_previous_secret_encrypted", "hmac_secret_changed_at"]
    source.save(update_fields=[*secret_fields, "updated_at"])
    logger.info("hmac secret set: source=%s previous_kept=%s", source.slug, keep_previous)


def source_hmac_previous_drop(*, source: Source) -> bool:
    """Stop accepting the previous HMAC secret; return False when none was kept."""
    dropped = (
        Source.objects.filter(pk=source.pk)
        .exclude(hmac_previous_secret_encrypted="")
        .update(hmac_previous_secret_encrypted="", updated_at=timezone.now())
    )
    source.drop_previous_hmac_secret()
    if dropped:
        logger.info("previous hmac secret dropped: source=%s", source.slug)
    return bool(dropped)


def source_hmac_authenticate(*, source: Source, request: SignedRequest) -> None:
    """Return when the request carries a valid code made with one of the source's HMAC secrets;
    raise SignatureError otherwise. The reason is logged, never the code or a secret."""
    try:
        secrets = source.hmac_secrets
    except ValueError:
        # No key of FIELD_ENCRYPTION_KEYS opens the secret: the operator's to fix, the sender's 401.
        logger.error("hmac secret cannot be decrypted (FIELD_ENCRYPTION_KEYS): source=%s", source.slug)
        raise SignatureError("the HMAC secret cannot be decrypted") from None
    try:
        signature_verify(config=source_hmac_config(source), secrets=secrets, request=request, now=time.time())
    except SignatureError as error:
        logger.info("hmac authentication failed: source=%s reason=%s", source.slug, error)
        raise


def secrets_rotate() -> tuple[int, list[str]]:
    """Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS, so that the other
    keys can be retired. Return the number of secrets re-encrypted and the sources that failed."""
    rotated, failed = 0, []
    for source in Source.objects.only("pk", "slug", *Source.ENCRYPTED_FIELDS).order_by("pk").iterator():
        for field in Source.ENCRYPTED_FIELDS:
            ciphertext = getattr(source, field)
            if not ciphertext:
                continue
            try:
                fresh = secret_rotate(ciphertext)
            except ValueError:
                failed.append(source.slug)
                logger.error("secret not re-encrypted, no key opens it: source=%s field=%s", source.slug, field)
                continue
            # Only if unchanged meanwhile: a secret saved since is encrypted with the first key already.
            rotated += Source.objects.filter(pk=source.pk, **{field: ciphertext}).update(**{field: fresh})
    logger.info("secrets re-encrypted with the first key: %s (failed sources: %s)", rotated, len(failed))
    return rotated, sorted(set(failed))


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


# Tokens this process has checked lately, by digest: (when checked, token with its source). A
# query per request for the same few tokens was the intake's largest cost after its INSERT.
_checked_tokens: dict[str, tuple[float, WebhookToken]] = {}
CHECKED_TOKENS_MAX = 1000


def checked_tokens_forget(**kwargs: object) -> None:
    """Forget every checked token (connected to saves of tokens and sources in this process)."""
    _checked_tokens.clear()


def token_authenticate(*, key: str) -> WebhookToken | None:
    """The usable token whose key this is, or None. Compares digests in constant time.

    A token found usable is trusted for WEBHOOK_TOKEN_CACHE_SECONDS by this process: a revocation
    or deactivation made elsewhere takes effect within that time (at once in the process that made
    it); expiry is checked on every call.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = _key_digest(key)
    now = timezone.now()
    checked = _checked_tokens.get(digest)
    if checked and time.monotonic() - checked[0] < settings.WEBHOOK_TOKEN_CACHE_SECONDS:
        return checked[1] if checked[1].is_usable(now) else None
    found = None
    for token in WebhookToken.objects.select_related("source").filter(lookup=key[:LOOKUP_LENGTH]).order_by():
        if hmac.compare_digest(token.digest, digest):
            found = token
    if found is None or not found.is_usable(now) or not found.source.is_active:
        return None
    if found.source.auth_method != Source.AuthMethod.TOKEN:
        # A source that authenticates by HMAC has closed the token door.
        return None
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per token, not one per request.
        WebhookToken.objects.filter(pk=found.pk).update(last_used_at=now)
    if len(_checked_tokens) >= CHECKED_TOKENS_MAX:
        _checked_tokens.clear()
    _checked_tokens[digest] = (time.monotonic(), found)
    return found


def auth_failure_record(*, address: str | None) -> int | None:
    """Count a failed authentication from this address. Return the seconds to wait (for Retry-After)
    when it has failed more than WEBHOOK_AUTH_FAILURE_LIMIT times in the current window, else None.

    Only failures touch the cache: a request that authenticates costs nothing here and is never
    throttled, so one sender's broken configuration cannot lock out another behind the same
    address (Advance's cloud calls from shared addresses). A cache outage throttles nobody.
    """
    window = settings.WEBHOOK_AUTH_FAILURE_WINDOW
    now = time.time()
    # Fixed windows aligned on the clock: one atomic counter per window, no read-modify-write.
    key = AUTH_FAILURES_KEY.format(address=address or "unknown", window=int(now // window))
    try:
        cache.add(key, 0, timeout=window + 1)
        failures = cache.incr(key)
    except Exception as error:  # noqa: BLE001 - any cache failure: count nothing rather than answer 5xx
        logger.warning("auth failure not counted, cache unavailable: address=%s error=%r", address, error)
        return None
    if failures <= settings.WEBHOOK_AUTH_FAILURE_LIMIT:
        return None
    if failures == settings.WEBHOOK_AUTH_FAILURE_LIMIT + 1:
        logger.warning("failed webhook authentication throttled: address=%s failures=%s", address, failures)
    return max(1, math.ceil(window - now % window))


def token_revoke(*, token: WebhookToken) -> bool:
    """Revoke the token; return False when it was revoked already."""
    revoked = WebhookToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    checked_tokens_forget()
    if revoked:
        logger.info("webhook token revoked: token=%s", token.pk)
    return bool(revoked)


def token_rotate(*, token: WebhookToken, grace: timedelta) -> tuple[WebhookToken, str]:
    """Issue a new key for the token's source and name; the old key stays valid for `grace`, no longer.

    The new token gets the old one's lifetime (created to expiry) from now, or none if it had none.
    An old key that expires sooner than the grace period keeps its earlier expiry. A revoked
    token is not rotated (ValueError): issue a new one instead.
    """
    if token.revoked_at is not None:
        raise ValueError(f"token {token.pk} is revoked")
    now = timezone.now()
    lifetime = token.expires_at - token.created_at if token.expires_at else None
    with transaction.atomic():
        expires_at = now + lifetime if lifetime else None
        new_token, key = token_issue(source=token.source, name=token.name, expires_at=expires_at)
        old_expires_at = now + grace
        WebhookToken.objects.filter(pk=token.pk).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=old_expires_at)
        ).update(expires_at=old_expires_at)
    checked_tokens_forget()
    logger.info("webhook token rotated: token=%s new token=%s grace=%ss", token.pk, new_token.pk, grace.total_seconds())
    return new_token, key


# Intake ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookCaller:
    """Who made an authenticated webhook call: a source, and the token it used (None for HMAC)."""

    source: Source
    token: WebhookToken | None = None


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


def event_validate(payload: dict) -> tuple[str, str, dict]:
    """Return (eventId, canonical event type, validated payload) or raise PayloadError."""
    if not payload:
        detail = "The body is empty; a JSON object with eventId and eventType is expected."
        raise PayloadError("empty body", {"detail": detail})
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
    *,
    source: Source | None = None,
    token: WebhookToken | None = None,
    raw_body: bytes,
    payload: dict | None = None,
    headers: dict,
    remote_addr: str | None,
) -> Receipt:
    """Store a delivery durably and queue its processing after commit.

    A new (source, eventId) is accepted; the same again is logged as a duplicate of the first.
    Raises DeliveryRejected (after logging it) for a body that is not an acceptable event.
    `payload` is the body already parsed (case-folded), when the caller has it. The source is the
    token's when no source is given (HMAC calls have a source and no token).
    """
    source = source or token.source
    try:
        event_id, event_type, _ = event_validate(payload_parse(raw_body) if payload is None else payload)
    except PayloadError as error:
        delivery = delivery_reject(
            http_status=400,
            cause=error.cause,
            source=source,
            token=token,
            raw_body=raw_body,
            headers=headers,
            remote_addr=remote_addr,
        )
        raise DeliveryRejected(delivery, error.detail) from None

    fields = dict(
        source=source,
        token=token,
        event_id=event_id,
        event_type=event_type,
        raw_body=raw_body,
        headers=headers,
        remote_addr=remote_addr,
    )
    try:
        # A savepoint of its own, so that a duplicate's IntegrityError leaves the caller's
        # transaction usable; in autocommit it is one INSERT committed before the answer.
        with transaction.atomic():
            delivery = Delivery.objects.create(
                status=Delivery.Status.ACCEPTED, http_status=202, due_at=timezone.now(), **fields
            )
    except IntegrityError:
        # The unique constraint, not a check in Python, decides what is a duplicate.
        original = Delivery.objects.get(source=source, event_id=event_id, status__in=Delivery.EVENT_STATUSES)
        Delivery.objects.create(status=Delivery.Status.DUPLICATE, http_status=200, duplicate_of=original, **fields)
        logger.info("duplicate delivery: event=%s source=%s", original.pk, source.slug)
        metrics.WEBHOOK_DUPLICATE.inc()
        return Receipt(delivery=original, created=False)
    # The task message is published by a thread of this process, off the request's path (see
    # webhooks.dispatch); on commit, should a caller have wrapped this in a transaction.
    delivery_enqueue_on_commit(delivery_id=delivery.pk, soon=True)
    logger.info("event accepted: delivery=%s type=%s source=%s", delivery.pk, event_type, source.slug)
    metrics.WEBHOOK_ACCEPTED.inc()
    return Receipt(delivery=delivery, created=True)


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
    event_id = envelope.payload.get("eventid")
    if answer.status >= 400:
        status = Delivery.Status.REJECTED
    else:
        status = Delivery.Status.FALLBACK if answer.fallback else Delivery.Status.ANSWERED
    delivery = Delivery.objects.create(
        source=source,
        token=token,
        event_id=text_storable(event_id, 200) if isinstance(event_id, str) else "",
        event_type=event_type.name,
        event_name=text_storable(envelope.event_name, 200),
        status=status,
        http_status=answer.status,
        rejection_cause=text_storable(answer.error, 500) if answer.status >= 400 else "",
        method=method[:10],
        query_string=text_storable(query_string, 4000),
        raw_body=raw_body,
        headers=headers,
        remote_addr=remote_addr,
        answered_by=text_storable(answer.answered_by, 300),
        duration_ms=duration_ms,
        answer_size=len(answer.body),
        last_error=text_storable(answer.error, 100_000),
        processed_at=timezone.now(),
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


def delivery_enqueue_on_commit(*, delivery_id: int, soon: bool = False) -> None:
    """Queue the delivery's processing once the current transaction commits, never failing it:
    a broker outage must not turn a stored event into a 5xx; the sweep queues it again.
    With soon=True the message is handed to this process's publisher thread instead of being
    published before returning."""

    # A function, not functools.partial: when a robust on_commit callback fails, Django logs its
    # __qualname__, which a partial lacks, and that AttributeError escaped as a 500.
    def enqueue() -> None:
        delivery_enqueue(delivery_id=delivery_id)

    def hand_over() -> None:
        publish_soon(enqueue)

    transaction.on_commit(hand_over if soon else enqueue, robust=True)


def delivery_enqueue(*, delivery_id: int) -> None:
    from .tasks import delivery_process  # the task module imports this one

    delivery_process.delay(delivery_id)


# Processing --------------------------------------------------------------------------------


def delivery_process(*, delivery_id: int, retries: int = 0, final_attempt: bool = False) -> None:
    """Hand an accepted event to its type's handler. Safe to run twice.

    A RetryableError is recorded and raised again, with the wait chosen (backoff or Retry-After)
    as its retry_after and as the delivery's due_at, unless this was the final attempt. Any other
    error fails the delivery with its traceback.
    """
    delivery = Delivery.objects.select_related("source").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.ACCEPTED:
        return
    if delivery.due_at and delivery.due_at > timezone.now() + DUE_SLACK:
        return  # a stale duplicate message: this delivery waits for its own retry
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    try:
        event_type = event_type_get(delivery.event_type)
        if event_type is None:
            raise LookupError(f"no handler registered for {delivery.event_type!r}")
        serializer = event_type.serializer_class(data=payload_parse(bytes(delivery.raw_body)))
        serializer.is_valid(raise_exception=True)
        event_type.process(delivery=delivery, payload=serializer.validated_data)
    except (PayloadError, serializers.ValidationError, LookupError, ValueError):
        logger.exception("delivery processing failed: delivery=%s", delivery.pk)
        _delivery_fail(delivery, traceback.format_exc())
        return
    except Exception as error:
        # Retryable, and anything unforeseen too: retried, then failed with its reason, never looping.
        if not isinstance(error, RetryableError):
            logger.exception("unexpected error processing delivery=%s", delivery.pk)
            error = RetryableError(f"{type(error).__name__}: {error}")
        if final_attempt:
            _delivery_fail(delivery, traceback.format_exc())
            raise error from None
        wait = retry_countdown(retries, error.retry_after)
        Delivery.objects.filter(pk=delivery.pk).update(
            last_error=str(error), due_at=timezone.now() + timedelta(seconds=wait)
        )
        logger.warning("delivery processing will be retried in %.0fs: delivery=%s error=%s", wait, delivery.pk, error)
        raise RetryableError(str(error), retry_after=wait) from error
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
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.ACCEPTED, processed_at=None, due_at=timezone.now()
        )
        delivery_enqueue_on_commit(delivery_id=delivery.pk)
    logger.info("delivery replayed: delivery=%s", delivery.pk)
    return True


def deliveries_requeue_stalled() -> int:
    """Queue again the accepted events whose processing was due long ago and has not happened: a
    message lost, or the broker down when the event was stored. Events waiting for a retry are
    not due yet and are left alone."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    stalled = list(
        Delivery.objects.filter(status=Delivery.Status.ACCEPTED)
        .filter(Q(due_at__lt=cutoff) | Q(due_at__isnull=True, received_at__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    Delivery.objects.filter(pk__in=stalled).update(due_at=now)
    for delivery_id in stalled:
        delivery_enqueue(delivery_id=delivery_id)
    if stalled:
        logger.warning("re-queued %s stalled deliveries", len(stalled))
    return len(stalled)

"""Webhook tokens: issue, check, revoke, rotate; and throttling of failed authentication."""

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import change_record, object_snapshot, object_snapshot_stored
from sources.models import Source

from ..models import WebhookToken

logger = logging.getLogger(__name__)

KEY_PREFIX = "whk_"
LOOKUP_LENGTH = len(KEY_PREFIX) + 8
LAST_USED_RESOLUTION = timedelta(minutes=1)

AUTH_FAILURES_KEY = "webhooks:auth-failures:{address}:{window}"
REFUSALS_LOGGED_KEY = "webhooks:refusals-logged:{scope}:{window}"


def _key_digest(key: str) -> str:
    # The key carries 256 random bits: a fast hash is right, a password hasher would only slow intake.
    return hashlib.sha256(key.encode()).hexdigest()


def token_issue(
    *, source: Source, name: str, expires_at: datetime | None = None, actor=None
) -> tuple[WebhookToken, str]:
    """Create a token and return it with its key; the key is never stored or shown again (the audit
    log records the issue by `actor`, None for a command, without the key or its digest)."""
    key = f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
    token = WebhookToken.objects.create(
        source=source, name=name, expires_at=expires_at, lookup=key[:LOOKUP_LENGTH], digest=_key_digest(key)
    )
    change_record(actor=actor, obj=token, before={}, after=object_snapshot(token), action="issued")
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


def throttle_bucket(address: str | None) -> str:
    """What failed authentications are counted by: the IPv4 address, or the IPv6 address's /64.

    One IPv6 host is usually given a whole /64: counted per address, it could fail without end.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _window_count(key: str, window: int) -> int | None:
    """Add one to a counter that lives for one window; None when the cache does not answer."""
    try:
        cache.add(key, 0, timeout=window + 1)
        return cache.incr(key)
    except Exception as error:  # noqa: BLE001 - any cache failure: count nothing rather than answer 5xx
        logger.warning("not counted, cache unavailable: key=%s error=%r", key, error)
        return None


def refusal_log_admit(*, source: Source | None = None) -> bool:
    """Whether one more refusal of an unknown caller may be written to the delivery log.

    Each address is held to WEBHOOK_AUTH_FAILURE_LIMIT by the throttle; this bounds them all
    together to WEBHOOK_REFUSAL_LOG_LIMIT rows per window, so many addresses cannot fill the log
    either. Refusals on the URL of an active HMAC source are counted apart, per source: a flood
    elsewhere must not push out the refused calls of that source kept for a second check. Refusals
    of a known caller are always logged. A cache outage admits every row.
    """
    window = settings.WEBHOOK_AUTH_FAILURE_WINDOW
    scope = "all"
    if source is not None and source.is_active and source.auth_method == Source.AuthMethod.HMAC:
        scope = f"source-{source.pk}"
    logged = _window_count(REFUSALS_LOGGED_KEY.format(scope=scope, window=int(time.time() // window)), window)
    if logged is None or logged <= settings.WEBHOOK_REFUSAL_LOG_LIMIT:
        return True
    if logged == settings.WEBHOOK_REFUSAL_LOG_LIMIT + 1:
        logger.warning("unauthenticated refusals no longer logged this window: scope=%s limit=%s", scope, logged - 1)
    return False


def auth_failure_record(*, address: str | None) -> int | None:
    """Count a failed authentication from this address (an IPv6 address by its /64). Return the
    seconds to wait (for Retry-After) when it has failed more than WEBHOOK_AUTH_FAILURE_LIMIT times
    in the current window, else None.

    Only failures touch the cache: a request that authenticates costs nothing here and is never
    throttled, so one sender's broken configuration cannot lock out another behind the same
    address (Advance's cloud calls from shared addresses). A cache outage throttles nobody.
    """
    window = settings.WEBHOOK_AUTH_FAILURE_WINDOW
    now = time.time()
    # Fixed windows aligned on the clock: one atomic counter per window, no read-modify-write.
    key = AUTH_FAILURES_KEY.format(address=throttle_bucket(address), window=int(now // window))
    failures = _window_count(key, window)
    if failures is None or failures <= settings.WEBHOOK_AUTH_FAILURE_LIMIT:
        return None
    if failures == settings.WEBHOOK_AUTH_FAILURE_LIMIT + 1:
        logger.warning("failed webhook authentication throttled: address=%s failures=%s", address, failures)
    return max(1, math.ceil(window - now % window))


def token_revoke(*, token: WebhookToken, actor=None) -> bool:
    """Revoke the token; return False when it was revoked already. A revocation is recorded in the
    audit log as done by `actor`."""
    now = timezone.now()
    revoked = WebhookToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    checked_tokens_forget()
    if revoked:
        change_record(actor=actor, obj=token, before={"revoked_at": None}, after={"revoked_at": now}, action="revoked")
        logger.info("webhook token revoked: token=%s", token.pk)
    return bool(revoked)


def token_update(*, token: WebhookToken, fields: list[str], actor=None) -> None:
    """Write these of the token's editable fields (name, expires_at) as the token holds them. Only
    these: a full save would undo a revocation made meanwhile. Recorded in the audit log."""
    fields = [name for name in fields if name in ("name", "expires_at")]
    if not fields:
        return
    stored = object_snapshot_stored(token)
    token.save(update_fields=fields)
    after = object_snapshot(token)
    change_record(
        actor=actor,
        obj=token,
        before={name: stored.get(name) for name in fields},
        after={name: after[name] for name in fields},
        action="changed",
    )
    logger.info("webhook token changed: token=%s fields=%s", token.pk, ",".join(fields))


def token_rotate(*, token: WebhookToken, grace: timedelta, actor=None) -> tuple[WebhookToken, str]:
    """Issue a new key for the token's source and name; the old key stays valid for `grace`, no longer.

    The new token gets the old one's lifetime (created to expiry) from now, or none if it had none.
    An old key that expires sooner than the grace period keeps its earlier expiry. A revoked
    token is not rotated (ValueError): issue a new one instead. The audit log records the new
    token's issue and the old one's rotation (its new expiry, the token that replaces it).
    """
    if token.revoked_at is not None:
        raise ValueError(f"token {token.pk} is revoked")
    now = timezone.now()
    lifetime = token.expires_at - token.created_at if token.expires_at else None
    with transaction.atomic():
        expires_at = now + lifetime if lifetime else None
        new_token, key = token_issue(source=token.source, name=token.name, expires_at=expires_at, actor=actor)
        old_expires_at = now + grace
        shortened = (
            WebhookToken.objects.filter(pk=token.pk)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=old_expires_at))
            .update(expires_at=old_expires_at)
        )
        change_record(
            actor=actor,
            obj=token,
            before={"expires_at": token.expires_at, "replaced_by": None},
            after={"expires_at": old_expires_at if shortened else token.expires_at, "replaced_by": new_token.pk},
            action="rotated",
        )
    checked_tokens_forget()
    logger.info("webhook token rotated: token=%s new token=%s grace=%ss", token.pk, new_token.pk, grace.total_seconds())
    return new_token, key

"""How a source's webhook calls authenticate: the method, the HMAC settings and secrets (checked
against what the verifier can use), and checking a call's code."""

import logging
import time

from django.core.cache import cache
from django.utils import timezone

from audit.services import change_record, object_snapshot, object_snapshot_stored
from sources.models import Source

from ..signatures import (
    HmacConfig,
    SignatureError,
    SignatureMatch,
    SignatureReplayed,
    SignedRequest,
    secret_check,
    signature_verify,
)

logger = logging.getLogger(__name__)


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


def source_hmac_configure(
    *, source: Source, auth_method: str = Source.AuthMethod.HMAC, **hmac_settings: object
) -> None:
    """Set how the source authenticates (by HMAC unless auth_method says otherwise), with these HMAC
    settings (algorithm=, encoding=, signed_material=, code_location=, header_name=, prefix=,
    timestamp_header=, tolerance_seconds=). Raises ValidationError for settings that do not fit together."""
    source.auth_method = auth_method
    for name, value in hmac_settings.items():
        setattr(source, f"hmac_{name}", value)
    source.full_clean()
    source.save()
    logger.info(
        "source authenticates by %s: source=%s settings=%s", source.auth_method, source.slug, sorted(hmac_settings)
    )


class HmacSecretNeeded(ValueError):
    """A source that authenticates by HMAC with no secret stored and none given."""


def source_hmac_secret_check(*, source: Source, secret: str | None) -> None:
    """Raise ValueError unless the source, with the settings it is about to be saved with, has a
    secret to check codes with (HmacSecretNeeded) and the new one, if any, suits those settings."""
    if source.auth_method == Source.AuthMethod.HMAC and not (secret or source.hmac_secret_encrypted):
        raise HmacSecretNeeded("A source that authenticates by HMAC needs the secret Advance generated.")
    if secret:
        try:
            secret_check(secret, config=source_hmac_config(source))
        except ValueError as error:
            raise ValueError(f"Unusable HMAC secret: {error}.") from None


def source_auth_set(
    *,
    source: Source,
    auth_method: str | None = None,
    hmac_settings: dict[str, object] | None = None,
    secret: str | None = None,
    keep_previous: bool = True,
    drop_previous: bool = False,
    actor=None,
) -> None:
    """Set how the source authenticates and its HMAC secrets, checked before anything is written:
    the method and settings (left as they are when both are None), then the previous secret
    dropped, then the new secret stored (the current one kept as the previous with keep_previous).
    Raises ValueError (HmacSecretNeeded: no secret at all) or ValidationError. What changed is
    recorded in the audit log as done by `actor` (None: a command), the secrets as "changed" only."""
    before = object_snapshot_stored(source)
    if auth_method is not None or hmac_settings is not None:
        method = auth_method or source.auth_method
        source.auth_method = method
        for name, value in (hmac_settings or {}).items():
            setattr(source, f"hmac_{name}", value)
        source_hmac_secret_check(source=source, secret=secret)
        source_hmac_configure(source=source, auth_method=method, **(hmac_settings or {}))
    else:
        source_hmac_secret_check(source=source, secret=secret)
    if drop_previous:
        source_hmac_previous_drop(source=source)
    if secret:
        source_hmac_secret_set(source=source, secret=secret, keep_previous=keep_previous)
    change_record(actor=actor, obj=source, before=before, after=object_snapshot(source), action="changed")


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


def source_hmac_authenticate(*, source: Source, request: SignedRequest) -> SignatureMatch:
    """Return the match when the request carries a valid code made with one of the source's HMAC
    secrets, not seen already (see signature_seen_record); raise SignatureError otherwise. The
    reason is logged, never the code or a secret."""
    try:
        secrets = source.hmac_secrets
    except ValueError:
        # No key of FIELD_ENCRYPTION_KEYS opens the secret: the operator's to fix, the sender's 401.
        logger.error("hmac secret cannot be decrypted (FIELD_ENCRYPTION_KEYS): source=%s", source.slug)
        raise SignatureError("the HMAC secret cannot be decrypted") from None
    now = time.time()
    try:
        match = signature_verify(config=source_hmac_config(source), secrets=secrets, request=request, now=now)
        if match.replay_key:
            signature_seen_check(source=source, match=match)
    except SignatureError as error:
        logger.info("hmac authentication failed: source=%s reason=%s", source.slug, error)
        raise
    return match


SEEN_SIGNATURE_KEY = "webhooks:hmac-seen:{source}:{material}"


def signature_seen_check(*, source: Source, match: SignatureMatch) -> None:
    """Raise SignatureError when this timestamped signature was answered already (a replay).
    With the cache down the call is let through (logged): a lost event would be worse than a
    replay window."""
    key = SEEN_SIGNATURE_KEY.format(source=source.pk, material=match.replay_key)
    try:
        seen = cache.get(key) is not None
    except Exception:  # noqa: BLE001 - any cache failure
        logger.warning("replay check skipped, cache unavailable: source=%s", source.slug)
        return
    if seen:
        raise SignatureReplayed("signature seen already within the tolerance (replay)")


def signature_seen_record(*, source: Source, match: SignatureMatch) -> None:
    """Remember a timestamped signature whose call was answered 2xx, until its timestamp leaves the
    tolerance. Only then: a call that failed before it was stored (a database error, an answer
    not configured yet) may be retried as it was. Two identical calls at once both pass the check;
    the event's unique constraint answers the second as a duplicate. Only a digest of what was
    signed is kept, in the cache, never the code."""
    if not match.replay_key:
        return
    key = SEEN_SIGNATURE_KEY.format(source=source.pk, material=match.replay_key)
    try:
        cache.set(key, 1, timeout=max(1, int(match.replay_until - time.time()) + 1))
    except Exception:  # noqa: BLE001 - any cache failure
        logger.warning("replay record skipped, cache unavailable: source=%s", source.slug)

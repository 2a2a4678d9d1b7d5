"""Refused HMAC calls kept for a second look: which scheme would have matched, adopting it, and
checking the kept calls again so that nothing is lost to a misconfiguration.

A call the source's method refused is kept (after the throttle, bounded per source) without its
credentials, which are kept encrypted with FIELD_ENCRYPTION_KEYS beside it: checking a code
against another scheme needs the code itself. They are emptied as soon as the call is accepted
or is no longer among the kept ones.
"""

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import transaction

from core.http import media_type_of

from ..crypto import secret_decrypt, secret_encrypt
from ..models import Delivery, Source
from ..payloads import FORM_MEDIA_TYPES, PayloadError, envelope_read, form_fields
from ..redaction import (
    CODE_FIELD,
    ORIGINAL_BODY,
    body_without_code,
    credential_header_names,
    header_key,
    json_field_value,
    query_code,
)
from ..registry import event_type_get
from ..signatures import SCHEME_FIELDS, HmacConfig, SignatureError, SignedRequest, schemes_matching, signature_verify
from .intake import DeliveryRejected, event_receive
from .sources import source_hmac_config, source_hmac_configure

logger = logging.getLogger(__name__)

KEPT_PER_SOURCE = 50
KEPT_MAX_BYTES = 1024 * 1024
# Searching the schemes costs about a hundred HMACs per place a code may be: bounded by size, and
# by looking only where a code travels (not in every header an unauthenticated caller sends).
SCHEME_SEARCH_MAX_BYTES = 256 * 1024
_NOT_CODE_HEADERS = {"authorization", "proxy-authorization", "cookie", "webhook-signature"}


def signed_request_make(*, raw_body: bytes, meta: Mapping[str, str], code: str | None) -> SignedRequest:
    """What the verifier reads of a call: the body, the headers, the code of the form field or
    query parameter `token`, the body without that field and the form field holding JSON."""
    content_type = meta.get("CONTENT_TYPE", "") or ""
    json_field = None
    if raw_body and media_type_of(content_type) in FORM_MEDIA_TYPES:
        try:
            found = json_field_value(form_fields(raw_body, content_type))
        except PayloadError:
            found = None
        json_field = found[1].encode() if found else None
    return SignedRequest(
        raw_body=raw_body,
        meta=meta,
        form={CODE_FIELD: code} if code is not None else {},
        body_without_token=body_without_code(raw_body, content_type),
        json_field=json_field,
    )


@dataclass(frozen=True)
class KeptRequest:
    """A refused call as it may be kept: the body, query and headers without credentials, and the
    credentials removed from it (encrypted before they are stored)."""

    method: str
    raw_body: bytes
    query_string: str
    credentials: dict[str, str] = field(repr=False)
    event_type: str = ""  # from the URL, when it names them
    event_name: str = ""
    headers: dict[str, str] | None = None  # the redacted headers, with its note when the body is not kept


def refused_request_keep(*, delivery: Delivery, kept: KeptRequest) -> bool:
    """Keep a refused call of an HMAC source with its delivery row, and stop keeping the oldest
    beyond KEPT_PER_SOURCE. Return False when it is not kept (too large, no source)."""
    if delivery.source_id is None or len(kept.raw_body) > KEPT_MAX_BYTES:
        return False
    Delivery.objects.filter(pk=delivery.pk).update(
        method=kept.method[:10],
        raw_body=kept.raw_body,
        query_string=kept.query_string[:4000],
        credentials_encrypted=secret_encrypt(json.dumps(kept.credentials)),
        event_type=kept.event_type[:100],
        event_name=kept.event_name[:200],
        **({"headers": kept.headers} if kept.headers is not None else {}),
    )
    stale = list(
        Delivery.objects.filter(source_id=delivery.source_id)
        .exclude(credentials_encrypted="")
        .order_by("-received_at", "-pk")
        .values_list("pk", flat=True)[KEPT_PER_SOURCE:]
    )
    if stale:
        Delivery.objects.filter(pk__in=stale).update(credentials_encrypted="", raw_body=b"", query_string="")
    return True


def _kept_signed_request(delivery: Delivery) -> SignedRequest | None:
    """The kept call as the verifier reads it, or None when nothing is kept (or no key opens it)."""
    if not delivery.credentials_encrypted:
        return None
    try:
        credentials = json.loads(secret_decrypt(delivery.credentials_encrypted))
    except ValueError:
        logger.error("kept credentials cannot be decrypted: delivery=%s", delivery.pk)
        return None
    meta = {header_key(name): value for name, value in (delivery.headers or {}).items()}
    code = credentials.pop(CODE_FIELD, None)
    original = credentials.pop(ORIGINAL_BODY, None)
    meta.update(credentials)
    if code is None:
        code = query_code(delivery.query_string)
    raw_body = base64.b64decode(original) if original else bytes(delivery.raw_body)
    return signed_request_make(raw_body=raw_body, meta=meta, code=code)


def delivery_schemes_searchable(*, delivery: Delivery) -> bool:
    """Whether the kept call is small enough to search the schemes for (SCHEME_SEARCH_MAX_BYTES)."""
    return len(delivery.raw_body or b"") <= SCHEME_SEARCH_MAX_BYTES


def delivery_schemes_matching(*, delivery: Delivery) -> list[HmacConfig]:
    """The supported schemes under which this kept refused call would have been accepted with the
    source's secrets, judged as of when it was received. The code is looked for in Authorization,
    the `token` field or parameter, the source's own code header and the known signature headers;
    nothing is searched for a body over SCHEME_SEARCH_MAX_BYTES."""
    if not delivery_schemes_searchable(delivery=delivery):
        return []
    request = _kept_signed_request(delivery)
    if request is None or delivery.source is None:
        return []
    try:
        secrets = delivery.source.hmac_secrets
    except ValueError:
        return []
    code_headers = credential_header_names(delivery.source) - _NOT_CODE_HEADERS
    names = sorted(name.title() for name in code_headers if header_key(name) in request.meta)
    return schemes_matching(
        base=source_hmac_config(delivery.source),
        secrets=secrets,
        request=request,
        now=delivery.received_at.timestamp(),
        header_names=names,
    )


def source_hmac_scheme_adopt(*, source: Source, scheme: HmacConfig) -> tuple[int, int]:
    """Make the source verify codes by this scheme, then check its kept refused calls again.
    Return (accepted, still refused)."""
    source_hmac_configure(source=source, **{name: getattr(scheme, name) for name in SCHEME_FIELDS})
    return deliveries_refused_recheck(source=source)


def deliveries_refused_recheck(*, source: Source) -> tuple[int, int]:
    """Check the source's kept refused calls against its current scheme; accept those that pass
    (as new deliveries, or duplicates of an event already accepted). Return (accepted, still refused).
    Interview calls are not answered again (Advance stopped waiting long ago)."""
    accepted = refused = 0
    kept = Delivery.objects.filter(source=source, status=Delivery.Status.REJECTED).exclude(credentials_encrypted="")
    try:
        secrets = source.hmac_secrets
    except ValueError:
        return 0, kept.count()
    config = source_hmac_config(source)
    for delivery in kept.order_by("received_at", "pk"):
        request = _kept_signed_request(delivery)
        try:
            if request is None:
                raise SignatureError("nothing kept")
            signature_verify(config=config, secrets=secrets, request=request, now=delivery.received_at.timestamp())
        except SignatureError:
            refused += 1
            continue
        if delivery_refused_accept(delivery=delivery):
            accepted += 1
        else:
            refused += 1
    logger.info("refused calls checked again: source=%s accepted=%s refused=%s", source.slug, accepted, refused)
    return accepted, refused


def delivery_refused_accept(*, delivery: Delivery) -> bool:
    """Receive a kept refused call that now authenticates, as intake would have; drop its kept
    credentials. False when its body is no acceptable event (it stays refused, credentials dropped)."""
    raw_body = bytes(delivery.raw_body)
    content_type = (delivery.headers or {}).get("Content-Type", "")
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(credentials_encrypted="")
        try:
            envelope = envelope_read(
                raw_body=raw_body,
                content_type=content_type,
                query={},
                event_type=delivery.event_type,
                event_name=delivery.event_name,
            )
            event_type = event_type_get(envelope.event_type)
            if event_type is not None and event_type.answer is not None:
                raise PayloadError("interview call", {})
            receipt = event_receive(
                source=delivery.source,
                raw_body=raw_body,
                payload=envelope.payload,
                headers=delivery.headers,
                remote_addr=delivery.remote_addr,
            )
        except (PayloadError, DeliveryRejected):
            return False
        Delivery.objects.filter(pk=delivery.pk).update(accepted_as_id=receipt.delivery_id)
    logger.info("refused call accepted on a second check: delivery=%s as=%s", delivery.pk, receipt.delivery_id)
    return True

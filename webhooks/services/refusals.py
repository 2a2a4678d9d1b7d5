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
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from django.db import transaction
from rest_framework import serializers

from audit.services import change_record, object_snapshot, object_snapshot_stored
from sources.crypto import secret_decrypt, secret_encrypt
from sources.models import Source

from ..inbound import CODE_FIELD, InboundCall, PayloadError, call_read
from ..models import Delivery
from ..payloads import EnvelopeSerializer, envelope_read, payload_validate
from ..redaction import ORIGINAL_BODY, ORIGINAL_QUERY, credential_header_names, header_key
from ..registry import event_type_get
from ..signatures import SCHEME_FIELDS, HmacConfig, SignatureError, SignedRequest, schemes_matching, signature_verify
from .intake import DeliveryRejected, event_receive
from .source_auth import source_hmac_config, source_hmac_configure

logger = logging.getLogger(__name__)

KEPT_PER_SOURCE = 50
KEPT_MAX_BYTES = 1024 * 1024
# Searching the schemes costs about a hundred HMACs per place a code may be: bounded by size, and
# by looking only where a code travels (not in every header an unauthenticated caller sends).
SCHEME_SEARCH_MAX_BYTES = 256 * 1024
_NOT_CODE_HEADERS = {"authorization", "proxy-authorization", "cookie", "webhook-signature"}


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
    headers: dict[str, str] | None = None  # the redacted headers


def refusal_worth_keeping(*, call: InboundCall, event_type: str, event_name: str) -> bool:
    """Whether a call the source's scheme refused is worth keeping for a second check: one that
    reads as an event to process (an eventId and the type of such an event). Anything else (noise,
    probes, interview calls, which are never answered again) is only logged, so it cannot push
    the calls worth keeping out."""
    try:
        envelope = envelope_read(call=call, event_type=event_type, event_name=event_name)
        registered = event_type_get(envelope.event_type)
        if registered is None or registered.process is None:
            return False
        payload_validate(EnvelopeSerializer, envelope.payload)
    except (PayloadError, serializers.ValidationError):
        return False
    return True


def refused_request_keep(*, delivery: Delivery, kept: KeptRequest) -> bool:
    """Keep a refused call of an HMAC source with its delivery row. Beyond KEPT_PER_SOURCE, the
    oldest kept call of the address that has most of them is dropped: a flood from a few addresses
    displaces its own calls, not those of Advance. Return False when it is not kept (too large,
    no source)."""
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
    kept_rows = list(
        Delivery.objects.filter(source_id=delivery.source_id)
        .exclude(credentials_encrypted="")
        .order_by("received_at", "pk")
        .values_list("pk", "remote_addr")
    )
    stale = []
    while len(kept_rows) > KEPT_PER_SOURCE:
        per_address = Counter(address for _, address in kept_rows)
        busiest = max(per_address, key=lambda address: per_address[address])
        oldest = next(row for row in kept_rows if row[1] == busiest)
        kept_rows.remove(oldest)
        stale.append(oldest[0])
    if stale:
        Delivery.objects.filter(pk__in=stale).update(credentials_encrypted="", raw_body=b"", query_string="")
    return True


def _kept_call(delivery: Delivery) -> InboundCall | None:
    """The kept call read again from the bytes it was received with, or None when nothing is kept,
    no key opens it, or it cannot be read (it is then refused for good, as intake would refuse it)."""
    if not delivery.credentials_encrypted:
        return None
    try:
        credentials = json.loads(secret_decrypt(delivery.credentials_encrypted))
    except ValueError:
        logger.error("kept credentials cannot be decrypted: delivery=%s", delivery.pk)
        return None
    meta = {header_key(name): value for name, value in (delivery.headers or {}).items()}
    original_body = credentials.pop(ORIGINAL_BODY, None)
    query_string = credentials.pop(ORIGINAL_QUERY, None)
    legacy_code = credentials.pop(CODE_FIELD, None)
    if query_string is None:
        query_string = delivery.query_string
        if legacy_code is not None and original_body is None:
            # Kept before the query string was kept whole: its code was kept alone.
            query_string = "&".join(filter(None, [query_string, f"{CODE_FIELD}={quote(legacy_code, safe='')}"]))
    meta.update(credentials)
    meta["QUERY_STRING"] = query_string
    raw_body = base64.b64decode(original_body) if original_body else bytes(delivery.raw_body)
    try:
        return call_read(method=delivery.method or "POST", meta=meta, raw_body=raw_body)
    except PayloadError:
        return None


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
    call = _kept_call(delivery)
    if call is None or delivery.source is None:
        return []
    request = SignedRequest.of(call)
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


def source_hmac_scheme_adopt(*, source: Source, scheme: HmacConfig, actor=None) -> tuple[int, int]:
    """Make the source verify codes by this scheme (recorded in the audit log as done by `actor`),
    then check its kept refused calls again. Return (accepted, still refused)."""
    before = object_snapshot_stored(source)
    source_hmac_configure(source=source, **{name: getattr(scheme, name) for name in SCHEME_FIELDS})
    change_record(actor=actor, obj=source, before=before, after=object_snapshot(source), action="changed")
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
        call = _kept_call(delivery)
        try:
            if call is None:
                raise SignatureError("nothing kept, or nothing readable")
            signature_verify(
                config=config, secrets=secrets, request=SignedRequest.of(call), now=delivery.received_at.timestamp()
            )
        except SignatureError:
            refused += 1
            continue
        if delivery_refused_accept(delivery=delivery, call=call):
            accepted += 1
        else:
            refused += 1
    logger.info("refused calls checked again: source=%s accepted=%s refused=%s", source.slug, accepted, refused)
    return accepted, refused


def delivery_refused_accept(*, delivery: Delivery, call: InboundCall) -> bool:
    """Receive a kept refused call that now authenticates, as intake would have, from `call`: the
    very reading of it that was verified. Drop its kept credentials. False when its body is no
    acceptable event (it stays refused, credentials dropped)."""
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(credentials_encrypted="")
        try:
            envelope = envelope_read(call=call, event_type=delivery.event_type, event_name=delivery.event_name)
            event_type = event_type_get(envelope.event_type)
            if event_type is not None and event_type.answer is not None:
                raise PayloadError("interview call", {})
            receipt = event_receive(
                source=delivery.source,
                raw_body=call.body_without_code,
                payload=envelope.payload,
                headers=delivery.headers,
                remote_addr=delivery.remote_addr,
            )
        except (PayloadError, DeliveryRejected):
            return False
        Delivery.objects.filter(pk=delivery.pk).update(accepted_as_id=receipt.delivery_id)
    logger.info("refused call accepted on a second check: delivery=%s as=%s", delivery.pk, receipt.delivery_id)
    return True

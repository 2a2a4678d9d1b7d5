"""The endpoint's decisions about one call: interview or event, which methods and bodies an event
may come with, and how a refused call is counted, throttled and logged. The view only parses the
request, calls one of these and shapes the answer."""

from collections.abc import Mapping
from dataclasses import dataclass

from rest_framework import exceptions

from .. import metrics
from ..inbound import InboundCall
from ..parsers import MalformedCall, PayloadTooLarge
from ..payloads import Envelope, PayloadError, envelope_read
from ..redaction import LoggableRequest, headers_redact, request_redact
from ..registry import Answer, event_type_get
from .intake import (
    DeliveryRejected,
    Receipt,
    WebhookCaller,
    client_address,
    delivery_reject,
    event_receive,
    interview_receive,
)
from .refusals import refused_request_keep
from .tokens import auth_failure_record, refusal_log_admit

# Refusals logged before any body is read (the body is not logged for them, except a call an
# HMAC source's scheme refused, kept without its credentials: see services/refusals.py).
LOGGED_REFUSALS = (
    exceptions.NotAuthenticated,
    exceptions.AuthenticationFailed,
    PayloadTooLarge,
    exceptions.UnsupportedMediaType,
    MalformedCall,
)


@dataclass(frozen=True)
class Refusal:
    """An authenticated call refused (and logged): the answer's status, JSON detail and Allow header."""

    status: int
    detail: object
    allow: str = ""


def call_receive(
    *, caller: WebhookCaller, call: InboundCall, event_type: str = "", event_name: str = ""
) -> Receipt | Answer | Refusal:
    """Receive an authenticated call: an interview event is answered at once, any other event is
    stored (Receipt), and what cannot be either is refused. Every outcome is in the log first.

    `event_type` and `event_name` are what the URL says (they win over the body)."""
    # Credentials never reach the log: every row below gets the redacted request.
    redacted = request_redact(call=call, source=caller.source)
    logged = {
        "source": caller.source,
        "token": caller.token,
        "headers": redacted.headers,
        "remote_addr": client_address(call.meta),
    }
    try:
        envelope = envelope_read(call=call, event_type=event_type, event_name=event_name)
    except PayloadError as error:
        delivery_reject(http_status=400, cause=error.cause, raw_body=redacted.raw_body, **logged)
        return Refusal(status=400, detail=error.detail)

    registered = event_type_get(envelope.event_type)
    if registered is not None and registered.answer is not None:
        return interview_receive(
            event_type=registered,
            envelope=envelope,
            method=call.method,
            raw_body=redacted.raw_body,
            query_string=redacted.query_string,
            **logged,
        )
    return _event_receive(call=call, redacted=redacted, envelope=envelope, logged=logged)


def _event_receive(
    *, call: InboundCall, redacted: LoggableRequest, envelope: Envelope, logged: dict
) -> Receipt | Refusal:
    """Store an event that is not an interview event, or refuse it (logged) for its method or body."""
    refused = _event_refusal(call)
    if refused is not None:
        status, cause = refused
        delivery_reject(
            http_status=status, cause=cause, raw_body=redacted.raw_body, event_type=envelope.event_type, **logged
        )
        detail = f"{envelope.event_type or 'This event'}: {cause} (application/json, POST)."
        return Refusal(status=status, detail={"detail": detail}, allow="POST" if status == 405 else "")
    try:
        return event_receive(raw_body=redacted.raw_body, payload=envelope.payload, **logged)
    except DeliveryRejected as rejected:
        return Refusal(status=400, detail=rejected.detail)


def _event_refusal(call: InboundCall) -> tuple[int, str] | None:
    """Events other than interview events are POSTed: (status, cause) otherwise. (A POST's media
    type is checked before: AdvanceWebhookApi.post.)"""
    if call.method != "POST":
        return 405, "only interview events are answered to GET"
    return None


def call_refusal_record(
    *, error: Exception, caller: WebhookCaller | None, authentication_tried: bool, meta: Mapping[str, str]
) -> Exception:
    """Count and log a call refused before it was received; return what to answer it with.

    Whatever refuses a credential before its caller is known (a wrong token, a bad or missing
    code on an HMAC source's URL, a body too large to check the code against) counts as a failed
    authentication, since an HMAC source cannot be told apart otherwise; past the limit the
    answer is a 429, and not logged: a flood of failures must not become a flood of rows. A call
    that carries no credential, or calls a URL whose slug names no active source, guessed
    nothing: it is answered 401, however many came before it, and not counted. Refusals of
    unknown callers are logged up to refusal_log_admit's bound."""
    address = client_address(meta)
    if authentication_tried and caller is None and _credential_refused(error):
        wait = auth_failure_record(address=address)
        if wait is not None:
            return exceptions.Throttled(wait=wait, detail="Too many failed authentications; try again later.")
    if not isinstance(error, LOGGED_REFUSALS):
        return error
    refused_source = getattr(error, "source", None)
    cause = getattr(error, "cause", "") or str(error.detail)
    if caller is None and not refusal_log_admit(source=refused_source):
        metrics.webhook_rejected(http_status=error.status_code, cause=cause)
        return error
    source = caller.source if caller else refused_source
    delivery = delivery_reject(
        http_status=error.status_code,
        cause=cause,
        source=source,
        token=caller.token if caller else None,
        headers=headers_redact(meta, source=source),
        remote_addr=address,
    )
    kept = getattr(error, "kept", None)
    if kept is not None:
        refused_request_keep(delivery=delivery, kept=kept)
    return error


# source_refusal() names the source a refusal is for (None: the URL's slug names no active source).
_NO_SOURCE_NAMED = object()


def _credential_refused(error: Exception) -> bool:
    """Whether a refusal before the caller is known refused a credential that was checked: not so
    for a call without any (DRF's NotAuthenticated: no Authorization header where a token is
    expected), nor on a URL whose slug names no active source (nothing to check one against).
    On an HMAC source's URL the code is the credential, and a missing one counts as wrong: from
    outside it is one more guess."""
    if not isinstance(error, exceptions.APIException) or isinstance(error, exceptions.NotAuthenticated):
        return False
    return getattr(error, "source", _NO_SOURCE_NAMED) is not None

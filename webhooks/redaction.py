"""Removing credentials from what a webhook call leaves behind, in one place.

Every request the endpoint logs goes through `request_redact` first: the delivery log keeps the
request without the credentials the source's method uses, wherever they came (a header, the
`token` query parameter, a `token` form field), and byte for byte otherwise. The body and query
without their code are the call's own (webhooks.inbound): what is stored is what the HMAC scheme
"body-without-token" signs and what the event is read from. Query strings of any URL are redacted
for logs by webhooks.inbound.query_redact.
"""

import base64
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from .inbound import InboundCall

# Keys of the credentials: the body and the query string as sent, when either held the code.
ORIGINAL_BODY = "body"
ORIGINAL_QUERY = "query"

# Headers that carry a credential whatever the source's method (its own code header is added),
# never written to the delivery log. Signatures are not secrets, but with the body beside them
# they would let whoever reads the log try to guess a weak HMAC secret offline.
CREDENTIAL_HEADER_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "webhook-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "x-signature",
    }
)


@functools.lru_cache(maxsize=256)
def header_key(name: str) -> str:
    """A header's key in a WSGI environ."""
    key = "HTTP_" + name.strip().upper().replace("-", "_")
    return key[5:] if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH") else key


def credential_header_names(source=None) -> frozenset[str]:
    """Lower-case names of the headers that carry credentials for this source's method."""
    return _credential_header_names((getattr(source, "hmac_header_name", "") or "").strip().lower())


@functools.lru_cache(maxsize=256)
def _credential_header_names(code_header: str) -> frozenset[str]:
    return CREDENTIAL_HEADER_NAMES | {code_header} if code_header else CREDENTIAL_HEADER_NAMES


@dataclass(frozen=True)
class LoggableRequest:
    """A request as it may be stored: no credential in it."""

    headers: dict[str, str]
    raw_body: bytes
    query_string: str
    # What was removed, for keeping (encrypted) with a refused delivery: WSGI keys of headers,
    # and the body and query string as sent when they held the code.
    credentials: dict[str, str] = field(default_factory=dict, repr=False)


def headers_redact(meta: Mapping[str, str], *, source=None) -> dict[str, str]:
    from .services.intake import headers_loggable  # the services import this module's users

    names = credential_header_names(source)
    return {name: value for name, value in headers_loggable(meta).items() if name.lower() not in names}


def request_redact(*, call: InboundCall, source=None) -> LoggableRequest:
    """The call without every credential the source's method may use, and what was removed: the
    body and query string as the call read them less the code field (inbound.InboundCall), and
    the credential headers."""
    credentials = {}
    for name in credential_header_names(source):
        value = call.meta.get(header_key(name))
        if value:
            credentials[header_key(name)] = value
    kept_body, kept_query = call.body_without_code, call.query_without_code
    if kept_body != call.raw_body:
        credentials[ORIGINAL_BODY] = base64.b64encode(call.raw_body).decode()
    query_string = call.meta.get("QUERY_STRING", "") or ""
    if kept_query != query_string:
        credentials[ORIGINAL_QUERY] = query_string
    return LoggableRequest(
        headers=headers_redact(call.meta, source=source),
        raw_body=kept_body,
        query_string=kept_query,
        credentials=credentials,
    )

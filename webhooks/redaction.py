"""Removing credentials from what a webhook call leaves behind, in one place.

Every request the endpoint logs goes through `request_redact` first: the delivery log keeps the
request without the credentials the source's method uses, wherever they came (a header, the
`token` query parameter, a `token` form field), and byte for byte otherwise. The same functions
define the HMAC scheme "body-without-token": the code is computed over exactly what is stored.
"""

import base64
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote_plus

from django.utils.http import parse_header_parameters

from core.http import media_type_of

CODE_FIELD = "token"
ORIGINAL_BODY = "body"  # key of the credentials: the body as sent, when it held the code

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

# Said in the headers of a delivery whose body could not be stored without its code.
BODY_NOT_STORED_NOTE = "X-Advance-Sync-Body-Not-Stored"


def _is_code_pair(pair: str) -> bool:
    return unquote_plus(pair.split("=", 1)[0]).strip().lower() == CODE_FIELD


def query_redact(query_string: str) -> str:
    """The query string without its `token` parameters (the name in any case), the rest as sent."""
    if not query_string:
        return ""
    return "&".join(pair for pair in query_string.split("&") if not _is_code_pair(pair))


def _urlencoded_without_code(raw_body: bytes) -> bytes:
    pairs = raw_body.split(b"&")
    kept = [pair for pair in pairs if not _is_code_pair(pair.decode("utf-8", "replace"))]
    return raw_body if len(kept) == len(pairs) else b"&".join(kept)


def _multipart_parts(raw_body: bytes, content_type: str) -> tuple[bytes, list[bytes]] | None:
    # The boundary exactly as Django's MultiPartParser reads it (form_fields): a repeated
    # parameter, quoting or RFC 2231 encoding must not make us cut the body elsewhere.
    try:
        _, params = parse_header_parameters(content_type)
    except ValueError:
        return None
    boundary = params.get("boundary")
    if not boundary:
        return None
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    return delimiter, raw_body.split(delimiter)


def _part_name(part: bytes) -> str | None:
    """The form field name of one multipart part (the bytes between two delimiters), read as
    Django's MultiPartParser reads it (`name*=UTF-8''token` is `token`; the last
    Content-Disposition line wins)."""
    head = part.split(b"\r\n\r\n", 1)[0]
    name = None
    for line in head.split(b"\r\n"):
        try:
            main, params = parse_header_parameters(line.decode())
            header = main.split(":", 1)[0] if ":" in main else None
        except ValueError:
            continue
        if header == "content-disposition":
            name = params.get("name")
    return name


def body_without_code(raw_body: bytes, content_type: str) -> bytes:
    """The body without its `token` form field, byte-exact otherwise.

    url-encoded: every pair whose name is `token` (any case, percent-decoded) is removed with one
    `&` that joined it ("a=1&token=x&b=2" becomes "a=1&b=2"). multipart/form-data: every part
    named `token` is removed from its delimiter to the next. Other bodies are returned as they are.
    """
    media_type = media_type_of(content_type)
    if not raw_body:
        return raw_body
    if media_type == "application/x-www-form-urlencoded":
        return _urlencoded_without_code(raw_body)
    if media_type == "multipart/form-data":
        split = _multipart_parts(raw_body, content_type)
        if split is None:
            return raw_body
        delimiter, parts = split
        kept = [parts[0]] + [part for part in parts[1:] if (_part_name(part) or "").strip().lower() != CODE_FIELD]
        return raw_body if len(kept) == len(parts) else delimiter.join(kept)
    return raw_body


def form_code(raw_body: bytes, content_type: str) -> str | None:
    """The value of the body's `token` form field, or None."""
    from .payloads import PayloadError, form_fields  # payloads imports this module

    if media_type_of(content_type) not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    try:
        return form_fields(raw_body, content_type).get(CODE_FIELD)
    except PayloadError:
        return None


def query_code(query_string: str) -> str | None:
    for pair in query_string.split("&"):
        if pair and _is_code_pair(pair):
            return unquote_plus(pair.split("=", 1)[1] if "=" in pair else "")
    return None


def json_field_value(fields: Mapping[str, str]) -> tuple[str, str, dict] | None:
    """(name, value as sent, object) of the first form field (other than `token`) whose value is a JSON object
    with an eventId or eventType key (any case): a payload sent as one field."""
    for name, value in fields.items():
        if name.lower() == CODE_FIELD or not isinstance(value, str) or not value.lstrip().startswith("{"):
            continue
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if isinstance(parsed, dict) and {"eventid", "eventtype"} & {str(key).lower() for key in parsed}:
            return name, value, parsed
    return None


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


def _code_left_in(body: bytes, code: str) -> bool:
    """Whether the code, as sent or percent-encoded, is still in the body (a code of a few
    characters is not a credential: any body may hold it by chance)."""
    if len(code) < 8:
        return False
    return any(form.encode("utf-8", "replace") in body for form in {code, quote_plus(code), quote(code, safe="")})


@dataclass(frozen=True)
class LoggableRequest:
    """A request as it may be stored: no credential in it."""

    headers: dict[str, str]
    raw_body: bytes
    query_string: str
    # What was removed, for keeping (encrypted) with a refused delivery: WSGI keys, plus "token".
    credentials: dict[str, str] = field(default_factory=dict, repr=False)


def headers_redact(meta: Mapping[str, str], *, source=None) -> dict[str, str]:
    from .services.intake import headers_loggable  # the services import this module's users

    names = credential_header_names(source)
    return {name: value for name, value in headers_loggable(meta).items() if name.lower() not in names}


def request_redact(*, meta: Mapping[str, str], raw_body: bytes, source=None) -> LoggableRequest:
    """The request without every credential the source's method may use, and what was removed."""
    content_type = meta.get("CONTENT_TYPE", "") or ""
    query_string = meta.get("QUERY_STRING", "") or ""
    credentials = {}
    for name in credential_header_names(source):
        value = meta.get(header_key(name))
        if value:
            credentials[header_key(name)] = value
    code = form_code(raw_body, content_type)
    if code is None:
        code = query_code(query_string)
    if code is not None:
        credentials[CODE_FIELD] = code
    kept_body = body_without_code(raw_body, content_type)
    if kept_body != raw_body:
        # The body as sent holds the code: a scheme signing the whole body can only be checked on it.
        credentials[ORIGINAL_BODY] = base64.b64encode(raw_body).decode()
    headers = headers_redact(meta, source=source)
    if code is not None and _code_left_in(kept_body, code):
        # A safety net: whatever reading of the body left its code in, no code is ever kept at rest.
        credentials[ORIGINAL_BODY] = base64.b64encode(raw_body).decode()
        kept_body = b""
        headers[BODY_NOT_STORED_NOTE] = "its token field could not be removed"
    return LoggableRequest(
        headers=headers,
        raw_body=kept_body,
        query_string=query_redact(query_string),
        credentials=credentials,
    )

"""Reading a webhook call once: its content type, body and query string become one InboundCall.

Everything downstream acts on that one structure: the HMAC check signs bytes derived from it, the
delivery log stores its body and query without the code, and the event is built from its fields.
Processing reads a stored body back with the same readers, so it sees the same fields. Nothing
else in the project parses a webhook call's body, its query string or its Content-Type.

The readers are strict where a looser one would have to guess: a form with two fields that could
be the code field (under any normalisation of the name), with two fields of the same name, or with
two fields that could each be the whole event is refused, and so is a multipart body that is not
plain `form-data` text fields (no files, no RFC 2231 names, no transfer encodings).
"""

import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, unquote_to_bytes

from django.conf import settings

CODE_FIELD = "token"
JSON_MEDIA_TYPE = "application/json"
URLENCODED_MEDIA_TYPE = "application/x-www-form-urlencoded"
MULTIPART_MEDIA_TYPE = "multipart/form-data"
FORM_MEDIA_TYPES = (URLENCODED_MEDIA_TYPE, MULTIPART_MEDIA_TYPE)
MAX_CONTENT_TYPE_LENGTH = 1000  # what the delivery log keeps of a header: a stored body must read back alike
# A code this short is no credential: any body may hold it by chance.
MIN_CODE_LENGTH = 8


class PayloadError(Exception):
    """The body is not an acceptable payload; `detail` says what is wrong, for a 400 answer."""

    def __init__(self, cause: str, detail: Any):
        super().__init__(cause)
        self.cause = cause
        self.detail = detail


class CallError(PayloadError):
    """The call cannot be read one way only: refused before anything else reads it."""

    def __init__(self, cause: str, detail: str):
        super().__init__(cause, {"detail": detail})


def _name_folded(name: str) -> str:
    # Percent-encoding (even applied twice), compatibility forms (fullwidth letters, the Kelvin
    # sign), case, and any whitespace, control or format character anywhere in the name.
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    name = unicodedata.normalize("NFKC", name)
    return "".join(char for char in name if unicodedata.category(char)[0] not in "CZ").casefold()


def is_code_name(name: str) -> bool:
    """Whether a form field or query parameter name reads as `token`, the HMAC code's field, under
    any normalisation. The one rule for the code field's name: what it matches is never signed,
    stored or read as part of the event."""
    # Calls repeat the same few names: those are folded once. A long name is folded each time
    # rather than cached (the cache would hold whatever an attacker sends).
    return (_name_folded_cached(name) if len(name) <= 64 else _name_folded(name)) == CODE_FIELD


_name_folded_cached = functools.lru_cache(maxsize=1024)(_name_folded)


@dataclass(frozen=True)
class Form:
    """The fields of a url-encoded or multipart body (or of a query string), as read once."""

    fields: tuple[tuple[str, str], ...]  # (name, value) in the order sent, without the code field
    code: str | None  # the value of the code field, when there is one
    without_code: bytes  # the bytes as sent, less the code field's: what is signed and stored
    # The one field whose value is the whole event as a JSON object (its name, its value as sent,
    # and that value decoded), when the form sends the event that way.
    event_field: tuple[str, str, dict] | None = None


@dataclass(frozen=True)
class ContentType:
    media_type: str  # lower case, without parameters
    params: dict[str, str]  # names lower case; parsed only for forms


def content_type_read(value: str) -> ContentType:
    """A Content-Type header as every reader here uses it. Raises CallError for a form's header
    whose parameters cannot be read one way only."""
    if len(value) > MAX_CONTENT_TYPE_LENGTH or "\x00" in value:
        raise CallError("malformed content type", "The Content-Type header is too long or holds a NUL character.")
    media_type, _, rest = value.partition(";")
    media_type = media_type.strip().lower()
    if media_type not in FORM_MEDIA_TYPES:
        return ContentType(media_type=media_type, params={})
    return ContentType(media_type=media_type, params=_header_params(rest, header="Content-Type"))


_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;"\s]*)\s*(?:;|\Z)')


def _header_params(text: str, *, header: str) -> dict[str, str]:
    """`; name=value; other="quoted"` as a dict, names lower case. Refused: a parameter given
    twice, an RFC 2231 (`name*=`) parameter, and anything that is not `name=value`."""
    params: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None:
            raise CallError("malformed header", f"The {header} header's parameters cannot be read.")
        name, value = match.group(1).lower(), match.group(2)
        if name.endswith("*") or name in params:
            raise CallError("malformed header", f"The {header} header gives {name!r} in a way read two ways.")
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name] = value
        position = match.end()
    return params


def _field_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CallError("invalid form data", f"A form field's {what} is not UTF-8.") from None


def _form_made(names_values: list[tuple[str, str]], chunks: list[bytes], joined) -> Form:
    """The Form of fields read from `chunks` (names_values[i] read from chunks[i], or None for a
    chunk holding no field); `joined(chunks)` gives the bytes those chunks were read from."""
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if limit is not None and len(names_values) > limit:
        raise CallError("too many fields", f"The form has more than {limit} fields.")
    code_at = [index for index, item in enumerate(names_values) if item is not None and is_code_name(item[0])]
    if len(code_at) > 1:
        raise CallError("ambiguous form", f"More than one field reads as the code field {CODE_FIELD!r}.")
    fields, seen = [], set()
    for index, item in enumerate(names_values):
        if item is None or index in code_at:
            continue
        folded = item[0].lower()
        if folded in seen:
            raise CallError("ambiguous form", f"The field {item[0][:100]!r} is given more than once.")
        seen.add(folded)
        fields.append(item)
    if not code_at:
        return Form(fields=tuple(fields), code=None, without_code=joined(chunks))
    code = names_values[code_at[0]][1]
    without_code = joined([chunk for index, chunk in enumerate(chunks) if index != code_at[0]])
    return Form(fields=tuple(fields), code=code, without_code=without_code)


def urlencoded_read(data: bytes) -> Form:
    """A url-encoded body or query string: `&`-separated `name=value` pairs, `+` and `%XX` decoded,
    UTF-8. Empty pairs hold no field."""
    pairs = data.split(b"&") if data else []
    names_values = []
    for pair in pairs:
        if not pair:
            names_values.append(None)
            continue
        name, _, value = pair.partition(b"=")
        names_values.append(
            (
                _field_text(unquote_to_bytes(name.replace(b"+", b" ")), "name"),
                _field_text(unquote_to_bytes(value.replace(b"+", b" ")), "value"),
            )
        )
    return _form_made(names_values, pairs, b"&".join)


_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_PART_HEADERS = {"content-disposition", "content-type", "content-transfer-encoding"}


def multipart_read(data: bytes, boundary: str) -> Form:
    """A multipart/form-data body of text fields (RFC 7578): every part a `form-data` with a
    `name`, UTF-8, no file. The body is `--B` part (CRLF `--B` part)* CRLF `--B--` [CRLF]."""
    if not _BOUNDARY.fullmatch(boundary or ""):
        raise CallError("invalid form data", "The multipart boundary is missing or not a valid boundary.")
    delimiter = b"--" + boundary.encode("ascii")
    separator = b"\r\n" + delimiter
    if not data.startswith(delimiter):
        raise CallError("invalid form data", "The form data does not start with its boundary.")
    chunks = data[len(delimiter) :].split(separator)
    if chunks[-1] not in (b"--", b"--\r\n"):
        raise CallError("invalid form data", "The form data does not end with its closing boundary.")
    parts = chunks[:-1]
    names_values = [_part_read(part) for part in parts]
    return _form_made(names_values, parts, lambda kept: delimiter + separator.join([*kept, chunks[-1]]))


def _part_read(part: bytes) -> tuple[str, str]:
    if not part.startswith(b"\r\n"):
        raise CallError("invalid form data", "A boundary line of the form data has text after the boundary.")
    head, found, value = part[2:].partition(b"\r\n\r\n")
    if not found:
        raise CallError("invalid form data", "A part of the form data has no end to its headers.")
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n"):
        text = _field_text(line, "header")
        name, colon, header_value = text.partition(":")
        name = name.lower()
        if not colon or name != name.strip() or "\r" in text or "\n" in text or name in headers:
            raise CallError("invalid form data", "A part of the form data has a malformed or repeated header.")
        if name not in _PART_HEADERS:
            raise CallError("invalid form data", f"A part of the form data has the header {name[:50]!r}.")
        headers[name] = header_value.strip()
    disposition, _, rest = headers.get("content-disposition", "").partition(";")
    params = _header_params(rest, header="Content-Disposition")
    if disposition.strip().lower() != "form-data" or set(params) != {"name"} or not params["name"]:
        raise CallError("invalid form data", "Each part must be `Content-Disposition: form-data; name=...` (no file).")
    charset = _header_params(headers.get("content-type", "").partition(";")[2], header="Content-Type").get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "us-ascii"):
        raise CallError("invalid form data", "A part of the form data is not UTF-8.")
    if headers.get("content-transfer-encoding", "binary").lower() not in ("7bit", "8bit", "binary"):
        raise CallError("invalid form data", "A part of the form data has a transfer encoding.")
    return params["name"], _field_text(value, "value")


def _event_json(value: str) -> dict | None:
    """The value as a JSON object with an eventId or eventType key (any case), or None."""
    if not value.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if isinstance(parsed, dict) and {"eventid", "eventtype"} & {str(key).lower() for key in parsed}:
        return parsed
    return None


def form_read(data: bytes, content_type: ContentType) -> Form:
    """A form body's fields, and the field holding the whole event as JSON when it is sent so.
    A form with more than one such field, or with one and other fields beside it (but the code),
    is refused: which of them is the event would depend on who reads it."""
    if content_type.media_type == MULTIPART_MEDIA_TYPE:
        form = multipart_read(data, content_type.params.get("boundary", "")) if data else _EMPTY_FORM
    else:
        form = urlencoded_read(data)
    events = [(name, value, parsed) for name, value in form.fields if (parsed := _event_json(value)) is not None]
    if len(events) > 1:
        raise CallError("ambiguous form", "More than one form field holds an event as JSON.")
    if events and len(form.fields) > 1:
        raise CallError("ambiguous form", "A form that holds the event as one JSON field has no other field.")
    if not events:
        return form
    return Form(fields=form.fields, code=form.code, without_code=form.without_code, event_field=events[0])


_EMPTY_FORM = Form(fields=(), code=None, without_code=b"")


def _code_in(data: bytes, code: str | None) -> bool:
    """Whether the code, as sent or percent-encoded, is in these bytes."""
    if code is None or len(code) < MIN_CODE_LENGTH:
        return False
    return any(form.encode("utf-8") in data for form in {code, quote_plus(code), quote(code, safe="")})


def _query_bytes(query_string: str) -> tuple[bytes, str]:
    # WSGI servers give the query's bytes as ISO-8859-1 text; a test client may give any text.
    try:
        return query_string.encode("iso-8859-1"), "iso-8859-1"
    except UnicodeEncodeError:
        return query_string.encode("utf-8"), "utf-8"


@dataclass(frozen=True)
class InboundCall:
    """One webhook call, read once. `form` is the body's fields for a form body, else None."""

    method: str
    meta: Mapping[str, str]  # the WSGI environ: headers as HTTP_X_NAME
    content_type: ContentType
    raw_body: bytes  # as received
    form: Form | None
    query: Form
    query_codec: str = "iso-8859-1"

    @property
    def is_json(self) -> bool:
        return self.content_type.media_type == JSON_MEDIA_TYPE

    @property
    def code(self) -> str | None:
        """The HMAC code of the `token` field: the body's, else the query string's."""
        if self.form is not None and self.form.code is not None:
            return self.form.code
        return self.query.code

    @property
    def body_without_code(self) -> bytes:
        """The body as sent, less its code field: what is stored, and what body-without-token signs."""
        return self.form.without_code if self.form is not None else self.raw_body

    @property
    def query_without_code(self) -> str:
        return self.query.without_code.decode(self.query_codec)

    @property
    def query_fields(self) -> dict[str, str]:
        """The query string's parameters, names lower case, without the code."""
        return {name.lower(): value for name, value in self.query.fields}


def body_read(raw_body: bytes, content_type: str) -> tuple[ContentType, Form | None]:
    """A body's content type and, for a form, its fields (the reader processing uses too)."""
    parsed = content_type_read(content_type)
    if parsed.media_type not in FORM_MEDIA_TYPES:
        return parsed, None
    return parsed, form_read(raw_body, parsed)


def call_read(*, method: str, meta: Mapping[str, str], raw_body: bytes) -> InboundCall:
    """Read a call's content type, body and query string into one InboundCall. Raises CallError
    when any of them could be read two ways, or when the code is left elsewhere in what would be
    stored (it must never be kept at rest)."""
    content_type, form = body_read(raw_body, meta.get("CONTENT_TYPE", "") or "")
    query_bytes, codec = _query_bytes(meta.get("QUERY_STRING", "") or "")
    query = urlencoded_read(query_bytes)
    call = InboundCall(
        method=method,
        meta=meta,
        content_type=content_type,
        raw_body=raw_body,
        form=form,
        query=query,
        query_codec=codec,
    )
    code = call.code
    if _code_in(call.body_without_code, code) or _code_in(query.without_code, code):
        raise CallError("ambiguous form", f"The code of the {CODE_FIELD!r} field appears elsewhere in the request.")
    return call


def query_redact(query_string: str) -> str:
    """A query string without its code parameters (every name `is_code_name` reads as `token`),
    the rest as sent. For logs of any URL: it never refuses, whatever the query holds."""
    if not query_string:
        return ""
    kept = []
    for pair in query_string.split("&"):
        name = pair.split("=", 1)[0]
        if not is_code_name(unquote_to_bytes(name.replace("+", " ")).decode("utf-8", "replace")):
            kept.append(pair)
    return "&".join(kept)

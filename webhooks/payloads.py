"""Parsing webhook bodies tolerantly: JSON objects whose keys are matched without regard to case."""

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core import validators as django_validators
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from .inbound import JSON_MEDIA_TYPE, ContentType, Form, InboundCall, PayloadError, body_read

MAX_JSON_DEPTH = 32
NUL_MESSAGE = "Null characters and lone surrogates are not allowed."
VERBATIM_KEYS = {"answers"}


def is_unicode_text(text: str) -> bool:
    """False for a string with a lone surrogate, which JSON's \\ud800 escapes can make: it is no
    Unicode text, so nothing (the database, a storage key, a log line) could encode it."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_check(text: str) -> None:
    if not is_unicode_text(text):
        raise PayloadError(
            "invalid JSON", {"detail": "The body is not valid JSON text: it has a lone surrogate (\\ud800-\\udfff)."}
        )


def casefold_keys(value: Any, depth: int = 0, *, text_checked: bool = False) -> Any:
    """Lower-case every key, so `eventId` and `EventId` both match; the first spelling wins.
    Strings that are no Unicode text (lone surrogates) are refused here, at intake, unless the
    caller knows there are none (`text_checked`)."""
    if depth > MAX_JSON_DEPTH:
        raise PayloadError("too deeply nested", {"detail": f"JSON nested deeper than {MAX_JSON_DEPTH} levels."})
    if isinstance(value, str):
        if not text_checked:
            _text_check(value)
        return value
    if isinstance(value, dict):
        folded: dict[str, Any] = {}
        for key, item in value.items():
            if not text_checked:
                _text_check(key)
            name = key.lower()
            # Answer data keeps its variable names as written; only our own keys are case-folded.
            folded.setdefault(
                name, item if name in VERBATIM_KEYS else casefold_keys(item, depth + 1, text_checked=text_checked)
            )
        return folded
    if isinstance(value, list):
        return [casefold_keys(item, depth + 1, text_checked=text_checked) for item in value]
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _holds_no_lone_surrogate(raw_body: bytes) -> bool:
    """True when no string json.loads reads from this body can be a lone surrogate: ASCII without
    NUL is read as UTF-8, and it has no \\uD800-\\uDFFF escape. One scan of the bytes instead of
    a check of every key and string (a false alarm, such as an escaped backslash before `ud8`,
    only costs those checks)."""
    return raw_body.isascii() and b"\x00" not in raw_body and _SURROGATE_ESCAPE.search(raw_body) is None


def payload_parse(raw_body: bytes) -> dict[str, Any]:
    """Decode a JSON object body with case-folded keys, or raise PayloadError."""
    if not raw_body.strip():
        raise PayloadError("empty body", {"detail": "The body is empty; a JSON object is expected."})
    try:
        value = json.loads(raw_body)
    except RecursionError:
        raise PayloadError("too deeply nested", {"detail": "JSON nested too deeply."}) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise PayloadError("invalid JSON", {"detail": f"The body is not valid JSON: {error}"}) from None
    if not isinstance(value, dict):
        raise PayloadError("not a JSON object", {"detail": "The body must be a JSON object."})
    return casefold_keys(value, text_checked=_holds_no_lone_surrogate(raw_body))


class EnvelopeSerializer(serializers.Serializer):
    """The fields every event carries (keys already case-folded)."""

    eventid = serializers.CharField(max_length=200)
    eventtype = serializers.CharField(max_length=100)


# Validation ----------------------------------------------------------------------------------
#
# The rules are the serializers' (an event type's, registered by its app): nothing here repeats
# them. DRF runs them generically, a method call and a validator object per field and rule,
# which measured 58 us of the intake's CPU per event. Each serializer is read once into plain
# functions for the field kinds it is made of (a nested serializer, a list of them, a CharField
# and its length, regex and character validators); any other field runs DRF's own code. These
# functions give DRF's result for a value they can vouch for, and give up (_Unsure) otherwise:
# DRF then validates the payload itself and words its 400. So they may refuse too much, never
# accept more (tests/webhooks/test_payload_validation.py holds them to DRF's results).


class _Unsure(Exception):
    """The compiled check cannot vouch for a value: DRF decides."""


Check = Callable[[Any], Any]
_SERIALIZER_METHODS = ("run_validation", "to_internal_value", "validate_empty_values", "run_validators", "validate")
# get_value()s that read a dict as dict.get(name, empty) (they differ for HTML form input only).
_PLAIN_GET_VALUE = (serializers.Field.get_value, serializers.Serializer.get_value, serializers.ListSerializer.get_value)


def _drf_check(field: serializers.Field) -> Check:
    def check(value: Any) -> Any:
        try:
            return field.run_validation(value)
        except (serializers.ValidationError, DjangoValidationError):
            raise _Unsure from None

    return check


def _text_rule(validator: object) -> Callable[[str], bool] | None:
    """What a CharField validator lets through, as a predicate; None for one not known here."""
    kind = type(validator)
    if kind in (django_validators.MaxLengthValidator, django_validators.MinLengthValidator):
        limit = validator.limit_value
        if callable(limit):
            return None
        if kind is django_validators.MaxLengthValidator:
            return lambda text: len(text) <= limit
        return lambda text: len(text) >= limit
    if kind is django_validators.ProhibitNullCharactersValidator:
        return lambda text: "\x00" not in text
    if kind is ProhibitSurrogateCharactersValidator:
        return is_unicode_text
    if kind is django_validators.RegexValidator:
        search, inverse = validator.regex.search, validator.inverse_match
        return lambda text: (search(text) is None) == inverse
    return None


def _char_check(field: serializers.CharField) -> Check:
    rules = [_text_rule(validator) for validator in field.validators]
    if None in rules:
        return _drf_check(field)
    allow_blank, allow_null, trim = field.allow_blank, field.allow_null, field.trim_whitespace

    def check(value: Any) -> Any:
        if type(value) is not str:  # numbers become text in DRF: it decides those
            if value is None and allow_null:
                return None
            raise _Unsure
        if value == "" or (trim and value.strip() == ""):
            if allow_blank:
                return ""
            raise _Unsure
        if trim:
            value = value.strip()
        for rule in rules:
            if not rule(value):
                raise _Unsure
        return value

    return check


def _list_check(field: serializers.ListSerializer) -> Check:
    if type(field) is not serializers.ListSerializer or field.validators:
        return _drf_check(field)
    child = _field_check(field.child)
    allow_null, allow_empty = field.allow_null, field.allow_empty
    longest, shortest = field.max_length, field.min_length

    def check(value: Any) -> Any:
        if value is None and allow_null:
            return None
        if not isinstance(value, list) or (not value and not allow_empty):
            raise _Unsure
        if (longest is not None and len(value) > longest) or (shortest is not None and len(value) < shortest):
            raise _Unsure
        return [child(item) for item in value]

    return check


def _serializer_check(serializer: serializers.Serializer) -> Check:
    base, kind = serializers.Serializer, type(serializer)
    fields = list(serializer._writable_fields)
    plain = (
        all(getattr(kind, name) is getattr(base, name) for name in _SERIALIZER_METHODS)
        and not serializer.validators
        and all(
            field.source == field.field_name
            and field.default is empty
            and not hasattr(serializer, f"validate_{field.field_name}")
            and type(field).get_value in _PLAIN_GET_VALUE
            for field in fields
        )
    )
    if not plain:
        return _drf_check(serializer)
    entries = [(field.field_name, field.required, _field_check(field)) for field in fields]
    allow_null = serializer.allow_null

    def check(value: Any) -> Any:
        if value is None and allow_null:
            return None
        if type(value) is not dict:
            raise _Unsure
        validated = {}
        for name, required, field_check in entries:
            item = value.get(name, empty)
            if item is empty:
                if required:
                    raise _Unsure
                continue
            validated[name] = field_check(item)
        return validated

    return check


def _field_check(field: serializers.Field) -> Check:
    if isinstance(field, serializers.ListSerializer):
        return _list_check(field)
    if isinstance(field, serializers.Serializer):
        return _serializer_check(field)
    if type(field) is serializers.CharField:
        return _char_check(field)
    return _drf_check(field)


_VALIDATORS: dict[type, tuple[serializers.Serializer, Check]] = {}


def payload_validate(serializer_class: type[serializers.Serializer], payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as `serializer_class` validates it (what its run_validation returns); raises
    DRF's serializers.ValidationError, worded by DRF. Intake and processing both validate here.

    One serializer instance per class and process: a new one deep-copies its declared fields and
    its nested serializers' (measured: 6x the cost of validating); run_validation() keeps no state
    on the instance, so one serves every call."""
    compiled = _VALIDATORS.get(serializer_class)
    if compiled is None:
        serializer = serializer_class()
        compiled = _VALIDATORS[serializer_class] = (serializer, _serializer_check(serializer))
    serializer, check = compiled
    try:
        return check(payload)
    except _Unsure:
        return serializer.run_validation(payload)


# Advance's spelling of the keys we read, to name them in error answers as the sender wrote them.
_ADVANCE_SPELLING = {
    name.lower(): name
    for name in [
        "eventId",
        "eventType",
        "eventName",
        "interviewEventName",
        "createdDate",
        "createdBy",
        "id",
        "loginName",
        "accountType",
        "data",
        "workItemId",
        "workItemVersionId",
        "workItemName",
        "documents",
        "name",
        "url",
    ]
}


def serializer_errors_detail(errors: Any) -> Any:
    """DRF's errors, with the case-folded field names spelled back the way Advance spells them."""
    if isinstance(errors, dict):
        return {_ADVANCE_SPELLING.get(key, key): serializer_errors_detail(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [serializer_errors_detail(item) for item in errors]
    return errors


# Keys of an event's `data` object that a form may send at its top level.
DATA_KEYS = ("workitemid", "workitemversionid", "workitemname", "documents")
_KEY_PATH = re.compile(r"[^.\[\]]+")
MAX_FORM_INDEX = 500


def _set_twice(name: str) -> PayloadError:
    return PayloadError("ambiguous form", {"detail": f"The form gives {name[:100]!r} more than once."})


def _path_set(target: dict, path: list[str], value: Any) -> None:
    for name in path[:-1]:
        child = target.get(name)
        if child is None:
            child = target[name] = {}
        elif not isinstance(child, dict):
            raise _set_twice(name)
        target = child
    if path[-1] in target:
        # Two spellings of one key (`data[workItemId]` and `data.workItemId`): which one the event
        # holds would depend on the order of the fields.
        raise _set_twice(".".join(path))
    target[path[-1]] = value


def _lists_made(value: Any, depth: int = 0) -> Any:
    """Objects whose keys are all small indexes ("0", "1", ...) become lists, in index order.
    Raises PayloadError for a value nested deeper than MAX_JSON_DEPTH."""
    if depth > MAX_JSON_DEPTH:
        # A field's JSON value may nest far deeper than the field name; fail before recursing.
        raise PayloadError("too deeply nested", {"detail": f"Form data nested deeper than {MAX_JSON_DEPTH} levels."})
    if isinstance(value, list):
        return [_lists_made(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: _lists_made(item, depth + 1) for key, item in value.items()}
    # isdecimal, not isdigit: int() refuses digits such as "²"; the length bound keeps int() cheap.
    if value and all(key.isdecimal() and len(key) <= 3 and int(key) < MAX_FORM_INDEX for key in value):
        return [value[key] for key in sorted(value, key=int)]
    return value


def _field_value(value: str) -> Any:
    """A field's value; one that is a JSON object or list (e.g. `data` or `documents` sent as
    JSON) is that object or list, keys case-folded."""
    if value.lstrip()[:1] in ("{", "["):
        try:
            return casefold_keys(json.loads(value))
        except (ValueError, RecursionError):
            pass
    return value


def form_payload(form: Form) -> dict[str, Any]:
    """The event a form carries, keys case-folded (the code field is never among its fields).

    Either one field holds the whole event as JSON (inbound.form_read found it), or the fields are
    the event: nested names as `data[workItemId]` or `data.workItemId` (`data[documents][0][id]`
    makes a list), a field holding JSON is that JSON, and flat workItemId, workItemVersionId,
    workItemName, documents are also read as `data`'s. A key given twice is refused.
    """
    if form.event_field is not None:
        return casefold_keys(form.event_field[2])
    payload: dict[str, Any] = {}
    for name, value in form.fields:
        path = _KEY_PATH.findall(name.lower())[:MAX_JSON_DEPTH]
        if path:
            _path_set(payload, path, _field_value(value))
    # The event itself stays an object, whatever its field names: "0=" is no list of events.
    payload = {key: _lists_made(item, 1) for key, item in payload.items()}
    data = payload.get("data")
    if data is None or isinstance(data, dict):
        data = dict(data or {})
        for key in DATA_KEYS:
            if key in payload:
                if key in data:
                    raise _set_twice(f"data.{key}")
                data[key] = payload[key]
        if data:
            payload["data"] = data
    return casefold_keys(payload)


def _body_payload(raw_body: bytes, content_type: ContentType, form: Form | None) -> dict[str, Any]:
    """The body's event, keys case-folded: a JSON object, a form's fields, or nothing."""
    if form is not None:
        return form_payload(form)
    if content_type.media_type == JSON_MEDIA_TYPE:
        return payload_parse(raw_body) if raw_body.strip() else {}
    return {}


def payload_decode(raw_body: bytes, content_type: str) -> dict[str, Any]:
    """The event in a stored body, read by the readers intake read it with. Raises PayloadError."""
    parsed, form = body_read(raw_body, content_type)
    if form is None:
        return payload_parse(raw_body)
    return form_payload(form)


@dataclass(frozen=True)
class Envelope:
    """What a call says about itself: its event type and name, and its fields."""

    event_type: str
    event_name: str
    payload: dict[str, Any]  # the JSON object or the form's event (form_payload), keys case-folded


def envelope_read(*, call: InboundCall, event_type: str = "", event_name: str = "") -> Envelope:
    """Find the event type and name at the body's top level, under its data, or in the query
    string, in that order (keys in any case). Raises PayloadError for a bad body.

    `event_type` and `event_name` come from the URL (one URL per Advance registration): they win
    over the body, and the payload gets them as its eventType and eventName."""
    payload = _body_payload(call.raw_body, call.content_type, call.form)
    if event_type:
        payload = {**payload, "eventtype": event_type[:100]}
    if event_name:
        payload = {**payload, "eventname": event_name[:200]}
    data = payload.get("data")
    places = (payload, data if isinstance(data, dict) else {}, call.query_fields)
    return Envelope(
        event_type=_envelope_field(places, ("eventtype",)),
        event_name=_envelope_field(places, ("eventname", "intervieweventname")),
        payload=payload,
    )


def _envelope_field(places: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """The first non-blank text under one of the names, place by place; "" when none."""
    for place in places:
        for name in names:
            value = place.get(name)
            if isinstance(value, str) and value.strip():
                if "\x00" in value or not is_unicode_text(value):
                    # It would be looked up in and written to the database, which cannot hold it.
                    raise PayloadError("malformed field", {_ADVANCE_SPELLING.get(name, name): [NUL_MESSAGE]})
                return value.strip()[:200]
    return ""

"""Parsing webhook bodies tolerantly: JSON objects whose keys are matched without regard to case."""

import json
from typing import Any

from rest_framework import serializers

MAX_JSON_DEPTH = 32


class PayloadError(Exception):
    """The body is not an acceptable payload; `detail` says what is wrong, for a 400 answer."""

    def __init__(self, cause: str, detail: Any):
        super().__init__(cause)
        self.cause = cause
        self.detail = detail


def casefold_keys(value: Any, depth: int = 0) -> Any:
    """Lower-case every key, so `eventId` and `EventId` both match; the first spelling wins."""
    if depth > MAX_JSON_DEPTH:
        raise PayloadError("too deeply nested", {"detail": f"JSON nested deeper than {MAX_JSON_DEPTH} levels."})
    if isinstance(value, dict):
        folded: dict[str, Any] = {}
        for key, item in value.items():
            folded.setdefault(key.lower(), casefold_keys(item, depth + 1))
        return folded
    if isinstance(value, list):
        return [casefold_keys(item, depth + 1) for item in value]
    return value


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
    return casefold_keys(value)


class EnvelopeSerializer(serializers.Serializer):
    """The fields every event carries (keys already case-folded)."""

    eventid = serializers.CharField(max_length=200)
    eventtype = serializers.CharField(max_length=100)


# Advance's spelling of the keys we read, to name them in error answers as the sender wrote them.
_ADVANCE_SPELLING = {
    name.lower(): name
    for name in (
        "eventId eventType eventName interviewEventName createdDate createdBy id loginName accountType "
        "data workItemId workItemVersionId workItemName documents name url"
    ).split()
}


def serializer_errors_detail(errors: Any) -> Any:
    """DRF's errors, with the case-folded field names spelled back the way Advance spells them."""
    if isinstance(errors, dict):
        return {_ADVANCE_SPELLING.get(key, key): serializer_errors_detail(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [serializer_errors_detail(item) for item in errors]
    return errors

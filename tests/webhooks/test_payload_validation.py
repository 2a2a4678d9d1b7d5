"""payload_validate: the event serializers' own rules, run by plain functions read from them,
give exactly what DRF gives (the validated data, or the same errors) for valid and hostile payloads."""

import copy
import json
from pathlib import Path

import pytest
from rest_framework import serializers

from webhooks import payloads
from webhooks.payloads import EnvelopeSerializer, casefold_keys, payload_validate
from webhooks.registry import event_type_get

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "payload-new-work-item-version-complete.json"
# Values put in place of each field in turn: wrong types, blanks, limits, characters the rules refuse.
HOSTILE = [
    None,
    "",
    "   ",
    " padded-id ",
    0,
    12.5,
    True,
    [],
    {},
    ["a"],
    "x" * 99,
    "x" * 100,
    "x" * 101,
    "x" * 301,
    "x" * 2001,
    "../../etc",
    "a\x00b",
    "a\ud800b",
    "é-ü",
    "2026-11-29T10:00:00.0000000Z",
    "not a date",
]


def serializer_classes() -> list[type[serializers.Serializer]]:
    return [
        EnvelopeSerializer,
        event_type_get("NewWorkItemVersionComplete").serializer_class,
        event_type_get("PostProcessingEvent").serializer_class,
    ]


def paths(value, prefix=()):
    """Every key path in a JSON value (list items by index)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        yield (*prefix, key)
        yield from paths(item, (*prefix, key))


def replaced(payload: dict, path: tuple, value) -> dict:
    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


def variants() -> list[dict]:
    example = casefold_keys(json.loads(EXAMPLE.read_text()))
    found = [example, {}, {"eventid": "e", "eventtype": "PostProcessingEvent"}]
    for path in paths(example):
        found += [replaced(example, path, value) for value in [KeyError, *HOSTILE]]
    documents = example["data"]["documents"]
    found += [replaced(example, ("data", "documents"), documents * count) for count in (0, 500, 501)]
    found.append(replaced(example, ("data",), {"documents": documents}))  # documents without their version
    return found


def drf_result(serializer_class, payload):
    serializer = serializer_class(data=payload)
    if serializer.is_valid():
        return "valid", serializer.validated_data
    return "invalid", serializer.errors


def our_result(serializer_class, payload):
    try:
        return "valid", payload_validate(serializer_class, payload)
    except serializers.ValidationError as error:
        return "invalid", error.detail


@pytest.mark.parametrize("serializer_class", serializer_classes(), ids=lambda cls: cls.__name__)
def test_every_payload_gets_what_drf_gives_it(serializer_class):
    checked = variants()
    outcomes = set()

    for payload in checked:
        expected = drf_result(serializer_class, payload)
        assert our_result(serializer_class, payload) == expected, payload
        outcomes.add(expected[0])

    assert outcomes == {"valid", "invalid"}  # the variants reach both answers


@pytest.mark.parametrize("serializer_class", serializer_classes(), ids=lambda cls: cls.__name__)
def test_what_the_plain_functions_accept_drf_accepts_the_same(serializer_class):
    # Not DRF's fallback: the functions read from the serializer answer valid payloads themselves.
    check = payloads._serializer_check(serializer_class())
    vouched = 0

    for payload in variants():
        try:
            validated = check(payload)
        except payloads._Unsure:
            continue
        vouched += 1
        assert ("valid", validated) == drf_result(serializer_class, payload), payload

    assert vouched > 10

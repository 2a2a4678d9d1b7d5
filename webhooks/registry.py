"""Event types the endpoint accepts, filled in by the apps that handle them.

`webhooks` knows nothing of documents: an app registers, in its AppConfig.ready(), the
serializer that validates an event type's payload and the function that processes it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from rest_framework import serializers


@dataclass(frozen=True)
class Answer:
    """What an interview event is answered with, and how the answer came about (for the log)."""

    status: int
    body: bytes
    answered_by: str = ""
    error: str = ""
    fallback: bool = False


@dataclass(frozen=True)
class EventType:
    """An event type: either stored and processed later (`process`), or answered at once (`answer`)."""

    name: str
    serializer_class: type[serializers.Serializer] | None = None
    # Runs in a worker, outside any transaction; must be safe to run twice for one delivery.
    process: Callable[..., None] | None = None
    # Runs in the request: answer(source=, event_name=, payload=, raw_body=) -> Answer.
    answer: Callable[..., Answer] | None = None


_event_types: dict[str, EventType] = {}


def event_type_register(event_type: EventType) -> None:
    _event_types[event_type.name.lower()] = event_type


def event_type_get(name: Any) -> EventType | None:
    """The registered event type of that name, matched without regard to case."""
    if not isinstance(name, str):
        return None
    return _event_types.get(name.lower())


def event_type_names() -> list[str]:
    return sorted(event_type.name for event_type in _event_types.values())


# Deliveries other apps still need, whatever their age: never pruned.
_delivery_keep_queries: list[Q] = []


def delivery_keep_register(query: Q) -> None:
    """Marks the deliveries matching query (a filter on Delivery) as needed: prune_deliveries keeps them."""
    _delivery_keep_queries.append(query)


def delivery_keep_query() -> Q:
    """Matches every delivery some app still needs (matches nothing when none registered)."""
    keep = Q(pk__in=[])
    for query in _delivery_keep_queries:
        keep |= query
    return keep

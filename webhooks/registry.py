"""Event types the endpoint accepts, filled in by the apps that handle them.

`webhooks` knows nothing of documents: an app registers, in its AppConfig.ready(), the
serializer that validates an event type's payload and the function that processes it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers


class RetryableError(Exception):
    """A failure that may pass (network, a 5xx, a broker or storage outage): try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


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

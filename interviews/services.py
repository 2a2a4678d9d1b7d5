import json
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cache
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from sources.models import Source
from webhooks.registry import Answer

from .models import AnswerProvider, json_validate
from .providers import InterviewRequest, interview_request_build, provider_load
from .selectors import answer_provider_get

logger = logging.getLogger(__name__)


@cache
def _executor() -> ThreadPoolExecutor:
    # Made on first use, so that each (forked) web worker process has its own threads.
    return ThreadPoolExecutor(max_workers=settings.INTERVIEW_PROVIDER_THREADS, thread_name_prefix="answer-provider")


def _error(status: int, message: str) -> Answer:
    return Answer(status=status, body=json.dumps({"detail": message}).encode(), error=message)


def _answer_body(result: Any) -> bytes:
    """A provider's result as JSON bytes; raise ValueError when it is not JSON."""
    if isinstance(result, bytes | str):
        text = result.decode() if isinstance(result, bytes) else result
        json.loads(text)
        return text.encode()
    return json.dumps(result).encode()


def _provider_call(path: str, request: InterviewRequest) -> bytes:
    # A thread of the pool: its database connection is its own, and must not go stale.
    close_old_connections()
    try:
        return _answer_body(provider_load(path)(request))
    finally:
        close_old_connections()


def interview_answer(*, source: Source, event_type: str, event_name: str, payload: dict, raw_body: bytes) -> Answer:
    """Answer an interview event of this source: its stored answer or its provider's, within the
    provider's time budget; a provider that fails or runs late yields the fallback."""
    if event_type == AnswerProvider.EventType.CUSTOM and not event_name:
        return _error(400, "A CustomInterviewEvent needs its event name (eventName or interviewEventName).")
    provider = answer_provider_get(source=source, event_type=event_type, event_name=event_name)
    if provider is None:
        named = f" named {event_name!r}" if event_type == AnswerProvider.EventType.CUSTOM else ""
        return _error(404, f"No answer is configured for the {event_type}{named}.")
    if provider.kind == AnswerProvider.Kind.STORED:
        return Answer(status=200, body=provider.answer_json.encode(), answered_by=f"stored answer #{provider.pk}")

    request = interview_request_build(
        source=source, event_type=event_type, event_name=event_name, payload=payload, raw_body=raw_body
    )
    future = _executor().submit(_provider_call, provider.provider_path, request)
    try:
        body = future.result(timeout=provider.timeout_seconds)
    except FutureTimeout:
        # The thread cannot be stopped; it finishes in the background and its result is dropped.
        error = f"{provider.provider_path} ran out of its time budget of {provider.timeout_seconds:g} s"
    except Exception as failure:  # whatever a provider raises, Advance gets the fallback
        error = f"{provider.provider_path} failed: {''.join(traceback.format_exception_only(failure)).strip()}"
        logger.warning("answer provider failed: provider=%s\n%s", provider.pk, traceback.format_exc())
    else:
        return Answer(status=200, body=body, answered_by=provider.provider_path)
    fallback = provider.fallback_json or settings.INTERVIEW_FALLBACK_ANSWER
    return Answer(status=200, body=fallback.encode(), answered_by=provider.provider_path, error=error, fallback=True)


def answer_stored_set(
    *, source: Source, event_type: str, event_name: str, answer_json: str
) -> tuple[AnswerProvider, bool]:
    """Make the stored answer this event is answered with; raise ValidationError for invalid JSON."""
    json_validate(answer_json)
    name = event_name if event_type == AnswerProvider.EventType.CUSTOM else ""
    provider = answer_provider_get(source=source, event_type=event_type, event_name=name) or AnswerProvider(
        source=source, event_type=event_type, event_name=name
    )
    created = provider.pk is None
    provider.kind = AnswerProvider.Kind.STORED
    provider.answer_json = answer_json
    provider.full_clean()
    provider.save()
    return provider, created

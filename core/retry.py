"""The retry policy, once for every task: when a failed attempt is tried again, and when it gives up."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import Task
from django.conf import settings
from django.utils import timezone

from .errors import PermanentError, RetryableError

# Cap on one wait: an ETA message longer than the broker's visibility timeout would be
# delivered twice, so waits stay well under it.
MAX_RETRY_COUNTDOWN = 600


# A retry message may arrive a little before the due_at written for it (clocks, rounding).
DUE_SLACK = timedelta(seconds=2)


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """The project's one backoff: exponential with "equal jitter", a wait drawn between half of
    and the whole of min(cap, base * 2**attempt), so that waits grow and never bunch together."""
    ceiling = min(cap, base * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def retry_countdown(retries: int, retry_after: float | None = None) -> float:
    """The wait before a failed attempt's retry: backoff_seconds from RETRY_BACKOFF_BASE_SECONDS
    (2.5-5 s, 5-10 s, 10-20 s ... up to 5-10 min), never sooner than Retry-After."""
    countdown = backoff_seconds(retries, base=settings.RETRY_BACKOFF_BASE_SECONDS, cap=MAX_RETRY_COUNTDOWN)
    if retry_after is not None:
        countdown = max(countdown, min(retry_after, MAX_RETRY_COUNTDOWN))
    return countdown


class RetryScheduled(RetryableError):
    """The attempt failed for now and its retry is written down; retry_after is the wait chosen
    (also written as the row's due time), which the task wrapper retries after."""


@dataclass(frozen=True)
class RetryDecision:
    """What follows a failed attempt: a retry in `countdown` seconds, or giving up (no countdown)."""

    # A PermanentError, or the failure as a RetryableError (an unexpected one as "Type: message").
    error: PermanentError | RetryableError
    countdown: float | None = None

    @property
    def permanent(self) -> bool:
        return isinstance(self.error, PermanentError)

    @property
    def due_at(self) -> datetime | None:
        """When the retry should run: the sweep queues it again only if that passes unnoticed."""
        return None if self.countdown is None else timezone.now() + timedelta(seconds=self.countdown)

    def scheduled(self) -> RetryScheduled:
        """The exception that tells the task wrapper to retry after the countdown."""
        return RetryScheduled(str(self.error), retry_after=self.countdown)


def retry_decide(*, error: Exception, retries: int, final_attempt: bool) -> RetryDecision:
    """Whether and when a failed attempt is tried again.

    A PermanentError gives up at once. Any other error is retried, an unexpected one too (a bug
    should end failed with its reason, never stuck): after the backoff for this many retries,
    never sooner than its Retry-After; on the final attempt it gives up.
    """
    if isinstance(error, PermanentError):
        return RetryDecision(error=error)
    if not isinstance(error, RetryableError):
        error = RetryableError(f"{type(error).__name__}: {error}")
    if final_attempt:
        return RetryDecision(error=error)
    return RetryDecision(error=error, countdown=retry_countdown(retries, error.retry_after))


def attempt_run(*, task: Task, service: Callable[..., object], **kwargs: object) -> None:
    """Run one attempt of a bound task's service, telling it how many retries came before and
    whether this is the last; retry the task after the wait the service chose.

    The service records its own failures: on the final attempt what it raises is only let go.
    """
    final_attempt = task.request.retries >= task.max_retries
    try:
        service(**kwargs, retries=task.request.retries, final_attempt=final_attempt)
    except RetryableError as error:
        if final_attempt:
            return
        # The service chose the wait: the backoff or Retry-After it wrote down as the row's due time,
        # or until a held lease lapses.
        countdown = error.retry_after if error.retry_after is not None else retry_countdown(task.request.retries)
        raise task.retry(exc=error, countdown=countdown) from error

import random
from datetime import timedelta

from django.conf import settings

# Cap on one wait: an ETA message longer than the broker's visibility timeout would be
# delivered twice, so waits stay well under it.
MAX_RETRY_COUNTDOWN = 600


# A retry message may arrive a little before the due_at written for it (clocks, rounding).
DUE_SLACK = timedelta(seconds=2)


def retry_countdown(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (5 s, 10 s, 20 s … up to 10 min), never sooner than Retry-After."""
    backoff = min(MAX_RETRY_COUNTDOWN, settings.RETRY_BACKOFF_BASE_SECONDS * 2**retries)
    countdown = random.uniform(backoff / 2, backoff)
    if retry_after is not None:
        countdown = max(countdown, min(retry_after, MAX_RETRY_COUNTDOWN))
    return countdown

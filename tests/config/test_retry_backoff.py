"""The project's one backoff (core/retry.py): what the waits are, for retries and for deferrals."""

import pytest

from core.retry import MAX_RETRY_COUNTDOWN, backoff_seconds, retry_countdown


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 2.5, 5), (1, 5, 10), (2, 10, 20), (6, 160, 320), (7, 300, 600), (30, 300, 600)],
)
def test_a_wait_is_drawn_between_half_of_and_the_whole_of_the_capped_exponential(attempt, low, high):
    waits = [backoff_seconds(attempt, base=5, cap=600) for _ in range(200)]

    assert low <= min(waits) and max(waits) <= high
    assert max(waits) - min(waits) > (high - low) / 4  # jittered, not one value


def test_a_retry_waits_the_backoff_and_never_less_than_retry_after(settings):
    settings.RETRY_BACKOFF_BASE_SECONDS = 5

    assert all(2.5 <= retry_countdown(0) <= 5 for _ in range(50))
    assert retry_countdown(0, retry_after=42) == 42
    assert retry_countdown(0, retry_after=10_000) == MAX_RETRY_COUNTDOWN

"""The two ways work can fail, for every task and service: retry later, or stop for good."""


class RetryableError(Exception):
    """A failure that may pass (network, a 5xx, a broker or storage outage): try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failure that trying again cannot fix (a payload that does not fit, a 404): fail for good,
    with this message as the reason. Any other exception is a bug, and is retried like an outage."""

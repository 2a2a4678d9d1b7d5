"""How a call to Advance can fail: for good (AdvanceError and its kinds), or for now (AdvanceUnavailable)."""

from core.errors import PermanentError, RetryableError


class AdvanceError(PermanentError):
    """Advance refused for good (404, another origin, bad answer): retrying will not help."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


class OutboundRefused(AdvanceError):
    """A connection to an address we never connect to was refused before it was made."""


class URLRefused(AdvanceError):
    """A URL from a payload or a redirect that does not plainly name the source's API origin."""


class AdvanceUnavailable(RetryableError):
    """Advance could not answer now (network, timeout, 5xx, 429): retry later."""

    def __init__(self, message: str, *, retry_after: float | None = None, http_status: int | None = None):
        super().__init__(message, retry_after=retry_after)
        self.http_status = http_status

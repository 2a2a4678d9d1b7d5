"""Checks that a source's Advance credentials work: the admin's "Test connection"."""

import logging
from dataclasses import dataclass

from sources.models import Source

from .advance.client import AdvanceClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of one log-in: ok, or the error as it happened."""

    ok: bool
    error: str = ""


def connection_error_text(error: Exception) -> str:
    """The error as it happened: our message, plus the underlying exception's own words."""
    text = str(error) or type(error).__name__
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def source_connection_check(*, source: Source) -> ConnectionCheck:
    """Log in to the source's Advance as its service principal, and say whether that worked."""
    try:
        AdvanceClient(source).login()
    except Exception as error:  # every failure is reported to the operator as it happened
        logger.warning("connection check failed: source=%s error=%s", source.slug, type(error).__name__)
        return ConnectionCheck(ok=False, error=connection_error_text(error))
    return ConnectionCheck(ok=True)

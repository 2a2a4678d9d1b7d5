"""What a command tells an operator when a service refuses their input."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


def command_error(error: ValueError | ValidationError, *, invalid: str) -> CommandError:
    """A CommandError with the service's message; a ValidationError's fields named after `invalid`."""
    if isinstance(error, ValidationError):
        messages = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in error.message_dict.items())
        return CommandError(f"{invalid}: {messages}")
    return CommandError(str(error))

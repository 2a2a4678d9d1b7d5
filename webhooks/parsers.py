from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException, UnreadablePostError
from rest_framework import exceptions
from rest_framework.parsers import BaseParser


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The body is larger than the limit."
    default_code = "payload_too_large"


class MalformedCall(exceptions.ParseError):
    """A call that cannot be read one way only (webhooks.inbound.CallError): a 400 before authentication."""

    def __init__(self, detail: object, *, cause: str):
        super().__init__(detail)
        self.cause = cause


def body_limit_check(content_length: str | None) -> None:
    """Refuse a body over the limit from its Content-Length alone, before reading any of it."""
    try:
        length = int(content_length or 0)
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.") from None
    if length > settings.WEBHOOK_MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")


def request_body_read(request) -> bytes:
    """The body exactly as received, read once for webhooks.inbound.call_read.

    The size limit is checked from Content-Length first, so an oversized body is never read.
    """
    body_limit_check(request.META.get("CONTENT_LENGTH"))
    try:
        return request.body
    except RequestDataTooBig:
        raise PayloadTooLarge(f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.") from None
    except (RawPostDataException, UnreadablePostError):
        # A client that went away mid-body, or a stream consumed already: nothing to verify against.
        raise exceptions.ParseError("The body could not be read.") from None


class RawBodyParser(BaseParser):
    """Hand on the raw bytes of an accepted content type, read up to the size limit.

    Decoding is left to the services, which log the raw body of every delivery, valid or not.
    """

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        if stream is None:
            return b""
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        return body


class RawJsonParser(RawBodyParser):
    media_type = "application/json"


class RawFormParser(RawBodyParser):
    # Interview events may come as form data (and an HMAC code in the form field `token`).
    media_type = "application/x-www-form-urlencoded"


class RawMultipartParser(RawBodyParser):
    media_type = "multipart/form-data"

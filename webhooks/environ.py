"""Requests Django itself cannot build, made buildable before it tries."""

from django.core.signals import request_started
from django.utils.http import parse_header_parameters


def content_type_repair(*, environ: dict, **kwargs) -> None:
    """Drop the parameters of a Content-Type that Django cannot parse.

    Django 5.2 raises ValueError while constructing the request for an RFC 2231 parameter naming
    an unknown charset (`charset*=bogus''x`): before any middleware or view runs, so the sender
    would get a 500. Without its parameters the media type is judged like any other (a JSON body
    is read as UTF-8 regardless; multipart without its boundary is a 400). Runs on the
    request_started signal, which both the WSGI handler and the test client send with the environ
    before they build the request.
    """
    value = environ.get("CONTENT_TYPE")
    if not value or ";" not in value:
        return
    try:
        parse_header_parameters(value)
    except ValueError:
        environ["CONTENT_TYPE"] = value.split(";", 1)[0].strip()


def connect() -> None:
    request_started.connect(content_type_repair, dispatch_uid="webhooks.content_type_repair")

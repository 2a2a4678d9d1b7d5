"""What only browsers need does not run for the webhook endpoint.

HotDocs Advance posts JSON with a token or an HMAC code: it has no session, no logged-in user and
no messages. Those middleware ran on every webhook call for nothing (the intake's profile); these
subclasses of them pass webhook calls straight on, and behave as Django's own for every other
path (the admin's checks see Django's classes). CSRF and X-Frame-Options stay Django's own: they
cost next to nothing here (the DRF view is CSRF-exempt), and `check --deploy` looks for them by name.

The Content-Security-Policy of the admin and the API description pages is ours too: Django 5.2
has none (6.0 brings SECURE_CSP).
"""

from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.files.storage import storages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

_webhook_prefix: str | None = None


def is_webhook(request: HttpRequest) -> bool:
    """A request to /webhooks/advance/ or a URL below it."""
    global _webhook_prefix
    if _webhook_prefix is None:
        _webhook_prefix = reverse("webhooks:advance")
    return request.path_info.startswith(_webhook_prefix)


class NotForWebhooks:
    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_webhook(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(NotForWebhooks, DjangoSessionMiddleware):
    pass


class AuthenticationMiddleware(NotForWebhooks, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(NotForWebhooks, DjangoMessageMiddleware):
    pass


# Content-Security-Policy --------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _storage_origin(storage_settings: str) -> str | None:
    """The origin of the document storage's URLs (S3's short-lived ones), None when it is ours."""
    parts = urlsplit(storages["default"].url("content-security-policy"))
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


def content_security_policy(policy: dict[str, list[str]], *, storage_origin: str | None = None) -> str:
    """The header's value; the storage's origin joins img-src and frame-src, where a document's
    preview redirects to its short-lived URL."""
    directives = []
    for name, sources in policy.items():
        if storage_origin and name in ("img-src", "frame-src"):
            sources = [*sources, storage_origin]
        directives.append(" ".join([name, *sources]))
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    """Sets Content-Security-Policy on every answer but the webhook endpoint's: CSP_POLICY, or the
    view's own in CSP_POLICIES_BY_VIEW (by its URL name). A view that set the header keeps it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_webhook(request) or "Content-Security-Policy" in response:
            return response
        view = request.resolver_match.view_name if request.resolver_match else None
        if view in settings.CSP_POLICIES_BY_VIEW:
            response["Content-Security-Policy"] = content_security_policy(settings.CSP_POLICIES_BY_VIEW[view])
        else:
            origin = _storage_origin(repr(settings.STORAGES["default"]))
            response["Content-Security-Policy"] = content_security_policy(settings.CSP_POLICY, storage_origin=origin)
        return response

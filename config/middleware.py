"""What only browsers need does not run for the webhook endpoint.

HotDocs Advance posts JSON with a token or an HMAC code: it has no session, no logged-in user and
no messages. Those middleware ran on every webhook call for nothing (the intake's profile); these
subclasses of them pass webhook calls straight on, and behave as Django's own for every other
path (the admin's checks see Django's classes). CSRF and X-Frame-Options stay Django's own: they
cost next to nothing here (the DRF view is CSRF-exempt), and `check --deploy` looks for them by name.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
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

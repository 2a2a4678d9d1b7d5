from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .models import WebhookToken
from .services import token_authenticate


class WebhookTokenAuthentication(BaseAuthentication):
    """`Authorization: KEY` or `Authorization: Bearer KEY`; request.auth becomes the WebhookToken."""

    def authenticate(self, request: Request) -> tuple[None, WebhookToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "").strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" else header
        token = token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired webhook token.")
        return None, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="advance-sync webhooks"'


class HasWebhookToken(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.auth, WebhookToken)

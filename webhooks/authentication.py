from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from sources.models import Source

from .inbound import InboundCall
from .redaction import request_redact
from .services import WebhookCaller, source_hmac_authenticate, token_authenticate
from .services.refusals import KeptRequest, refusal_worth_keeping
from .signatures import SignatureError, SignatureReplayed, SignedRequest

REALM = "advance-sync webhooks"


def source_refusal(detail: str, *, source: Source | None, cause: str = "") -> exceptions.AuthenticationFailed:
    """A 401 that tells the endpoint's log which source was refused and why (the answer says less)."""
    error = exceptions.AuthenticationFailed(detail)
    error.source = source
    error.cause = cause or detail
    return error


class WebhookTokenAuthentication(BaseAuthentication):
    """`Authorization: KEY` or `Authorization: Bearer KEY`; request.auth becomes a WebhookCaller."""

    def authenticate(self, request: Request) -> tuple[None, WebhookCaller] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "").strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" else header
        token = token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired webhook token.")
        return None, WebhookCaller(source=token.source, token=token)

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{REALM}"'


class SourceUrlAuthentication(BaseAuthentication):
    """/webhooks/advance/<slug>/: the URL names the source, which is authenticated by its own method.

    An HMAC source's calls must carry a valid code made with one of its two secrets; a token
    source's calls must carry one of that source's tokens (so the slug URL works for both).
    """

    def __init__(self) -> None:
        self.source: Source | None = None

    def authenticate(self, request: Request) -> tuple[None, WebhookCaller] | None:
        slug = str(request.parser_context["kwargs"].get("source_slug", ""))
        self.source = Source.objects.filter(slug=slug[:64], is_active=True).first()
        if self.source is None:
            cause = f"unknown or inactive source {slug[:64]!r}"
            raise source_refusal("Unknown or inactive source.", source=None, cause=cause)
        if self.source.auth_method == Source.AuthMethod.TOKEN:
            return self.token_authenticate(request)

        call = inbound_call(request)
        try:
            match = source_hmac_authenticate(source=self.source, request=SignedRequest.of(call))
        except SignatureError as error:
            detail = "The HMAC code is missing or does not match."
            refusal = source_refusal(detail, source=self.source, cause=f"hmac: {error}")
            if isinstance(error, SignatureReplayed):
                raise refusal from None  # a replay is not kept: no scheme makes it right
            kwargs = request.parser_context["kwargs"]
            event_type, event_name = str(kwargs.get("event_type", "")), str(kwargs.get("event_name", ""))
            if refusal_worth_keeping(call=call, event_type=event_type, event_name=event_name):
                # Kept (without its credentials in plaintext) to be checked again once the scheme is right.
                redacted = request_redact(call=call, source=self.source)
                refusal.kept = KeptRequest(
                    method=request.method,
                    raw_body=redacted.raw_body,
                    query_string=redacted.query_string,
                    credentials=redacted.credentials,
                    event_type=event_type,
                    event_name=event_name,
                    headers=redacted.headers,
                )
            raise refusal from None
        return None, WebhookCaller(source=self.source, signature=match)

    def token_authenticate(self, request: Request) -> tuple[None, WebhookCaller] | None:
        authenticated = WebhookTokenAuthentication().authenticate(request)
        if authenticated is not None and authenticated[1].source.pk != self.source.pk:
            detail = "Unknown, revoked or expired webhook token."
            raise source_refusal(detail, source=self.source, cause="token of another source")
        return authenticated

    def authenticate_header(self, request: Request) -> str:
        if self.source is not None and self.source.auth_method == Source.AuthMethod.HMAC:
            return f'HMAC realm="{REALM}"'
        return f'Bearer realm="{REALM}"'


def inbound_call(request: Request) -> InboundCall:
    """The call as the endpoint reads it, once (AdvanceWebhookApi.inbound_call)."""
    return request.parser_context["view"].inbound_call()


class IsWebhookCaller(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.auth, WebhookCaller)

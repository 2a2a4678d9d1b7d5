from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .authentication import HasWebhookToken, WebhookTokenAuthentication
from .models import WebhookToken
from .parsers import PayloadTooLarge, RawJsonParser, body_limit_check
from .services import DeliveryRejected, delivery_reject, event_receive, headers_loggable

# Refusals the endpoint logs before any body is read (the body is not logged for them).
LOGGED_REFUSALS = (exceptions.NotAuthenticated, exceptions.AuthenticationFailed, PayloadTooLarge, exceptions.UnsupportedMediaType)


class AdvanceWebhookApi(APIView):
    """The URL registered in HotDocs Advance: stores each event, then answers."""

    authentication_classes = [WebhookTokenAuthentication]
    permission_classes = [HasWebhookToken]
    parser_classes = [RawJsonParser]

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        body_limit_check(request.META.get("CONTENT_LENGTH"))

    def post(self, request: Request) -> Response:
        raw_body = request.data if isinstance(request.data, bytes) else b""
        try:
            receipt = event_receive(
                token=request.auth,
                raw_body=raw_body,
                headers=headers_loggable(request.META),
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        except DeliveryRejected as rejected:
            return Response(rejected.detail, status=status.HTTP_400_BAD_REQUEST)
        created = receipt.created
        return Response(
            {"id": str(receipt.delivery.public_id), "status": "accepted" if created else "duplicate"},
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, LOGGED_REFUSALS):
            token = self.request.auth if isinstance(self.request.auth, WebhookToken) else None
            delivery_reject(
                http_status=exc.status_code,
                cause=str(exc.detail),
                source=token.source if token else None,
                token=token,
                headers=headers_loggable(self.request.META),
                remote_addr=self.request.META.get("REMOTE_ADDR"),
            )
        return super().handle_exception(exc)

from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .authentication import HasWebhookToken, WebhookTokenAuthentication
from .models import WebhookToken
from .parsers import PayloadTooLarge, RawFormParser, RawJsonParser, RawMultipartParser, body_limit_check
from .payloads import PayloadError, envelope_read
from .registry import event_type_get
from .services import DeliveryRejected, delivery_reject, event_receive, headers_loggable, interview_receive

# Refusals the endpoint logs before any body is read (the body is not logged for them).
LOGGED_REFUSALS = (
    exceptions.NotAuthenticated,
    exceptions.AuthenticationFailed,
    PayloadTooLarge,
    exceptions.UnsupportedMediaType,
)


class AdvanceWebhookApi(APIView):
    """The URL registered in HotDocs Advance.

    Events to process (NewWorkItemVersionComplete, PostProcessingEvent) are stored, then answered
    202; interview events (InterviewLoadEvent, CustomInterviewEvent) are answered at once with
    answer data, by POST or GET.
    """

    authentication_classes = [WebhookTokenAuthentication]
    permission_classes = [HasWebhookToken]
    parser_classes = [RawJsonParser, RawFormParser, RawMultipartParser]

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        body_limit_check(request.META.get("CONTENT_LENGTH"))

    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_event(request, raw_body=b"")

    def post(self, request: Request) -> HttpResponse:
        return self.dispatch_event(request, raw_body=request.data if isinstance(request.data, bytes) else b"")

    def dispatch_event(self, request: Request, *, raw_body: bytes) -> HttpResponse:
        token: WebhookToken = request.auth
        logged = {"headers": headers_loggable(request.META), "remote_addr": request.META.get("REMOTE_ADDR")}
        try:
            envelope = envelope_read(raw_body=raw_body, content_type=request.content_type, query=request.query_params)
        except PayloadError as error:
            delivery_reject(
                http_status=400, cause=error.cause, source=token.source, token=token, raw_body=raw_body, **logged
            )
            return Response(error.detail, status=status.HTTP_400_BAD_REQUEST)

        event_type = event_type_get(envelope.event_type)
        if event_type is not None and event_type.answer is not None:
            answer = interview_receive(
                token=token, event_type=event_type, envelope=envelope, method=request.method,
                raw_body=raw_body, query_string=request.META.get("QUERY_STRING", ""), **logged,
            )
            return HttpResponse(answer.body, status=answer.status, content_type="application/json")

        # Other events are POSTed as JSON (an empty POST falls through, to be told its body is empty).
        refusal = None
        if request.method != "POST":
            refusal = (status.HTTP_405_METHOD_NOT_ALLOWED, "only interview events are answered to GET")
        elif raw_body and not envelope.is_json:
            refusal = (status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "events other than interview events are sent as JSON")
        if refusal:
            code, cause = refusal
            delivery_reject(
                http_status=code, cause=cause, source=token.source, token=token, raw_body=raw_body,
                event_type=envelope.event_type, **logged,
            )
            detail = f"{envelope.event_type or 'This event'}: {cause} (application/json, POST)."
            return Response({"detail": detail}, status=code, headers={"Allow": "POST"} if code == 405 else None)

        try:
            receipt = event_receive(token=token, raw_body=raw_body, payload=envelope.payload, **logged)
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

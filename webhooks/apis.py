import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import metrics
from .authentication import IsWebhookCaller, SourceUrlAuthentication, WebhookTokenAuthentication
from .parsers import PayloadTooLarge, RawFormParser, RawJsonParser, RawMultipartParser, body_limit_check
from .payloads import PayloadError, envelope_read
from .redaction import headers_redact, request_redact
from .registry import event_type_get
from .services import (
    DeliveryRejected,
    WebhookCaller,
    auth_failure_record,
    client_address,
    delivery_reject,
    event_receive,
    interview_receive,
    refusal_log_admit,
    signature_seen_record,
)
from .services.refusals import refused_request_keep

# Refusals the endpoint logs before any body is read (the body is not logged for them, except a
# call an HMAC source's scheme refused, kept without its credentials: see services/refusals.py).
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

    On /webhooks/advance/ a token names the source; on /webhooks/advance/<slug>/ the URL names it
    and the source's own method (HMAC or token) authenticates the call.
    """

    authentication_classes = [WebhookTokenAuthentication]
    permission_classes = [IsWebhookCaller]
    parser_classes = [RawJsonParser, RawFormParser, RawMultipartParser]
    renderer_classes = [JSONRenderer]
    renderer = JSONRenderer()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[JSONRenderer, str]:
        # Every answer is JSON, whatever the sender's Accept says: negotiating cost a tenth of the
        # request's CPU, and an Accept without JSON in it was answered 406, its event not stored.
        return self.renderer, self.renderer.media_type

    def get_authenticators(self):
        if "source_slug" in self.kwargs:
            return [SourceUrlAuthentication()]
        return super().get_authenticators()

    def get_authenticate_header(self, request: Request) -> str | None:
        # The authenticator that ran knows which source (and so which scheme) was refused.
        authenticators = getattr(request, "authenticators", None) or self.get_authenticators()
        return authenticators[0].authenticate_header(request) if authenticators else None

    # Set once authentication has run: handle_exception reading request.auth before would run it there.
    authentication_tried = False

    def perform_authentication(self, request: Request) -> None:
        self.authentication_tried = True
        super().perform_authentication(request)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        caller = request.auth if self.authentication_tried else None
        # A signature is "seen" only once its call is answered 2xx: a retry of one that failed is no replay.
        if isinstance(caller, WebhookCaller) and caller.signature is not None and 200 <= response.status_code < 300:
            signature_seen_record(source=caller.source, match=caller.signature)
        return super().finalize_response(request, response, *args, **kwargs)

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        body_limit_check(request.META.get("CONTENT_LENGTH"))

    # /webhooks/advance/<slug>/<event_type>/[<event_name>/]: the URL names the event (see urls.py).
    def get(self, request: Request, **url_kwargs: str) -> HttpResponse:
        return self.dispatch_event(request, raw_body=b"")

    def post(self, request: Request, **url_kwargs: str) -> HttpResponse:
        return self.dispatch_event(request, raw_body=request.data if isinstance(request.data, bytes) else b"")

    def dispatch_event(self, request: Request, *, raw_body: bytes) -> HttpResponse:
        caller: WebhookCaller = request.auth
        # Credentials never reach the log: every row below gets the redacted request.
        redacted = request_redact(meta=request.META, raw_body=raw_body, source=caller.source)
        logged = {
            "source": caller.source,
            "token": caller.token,
            "headers": redacted.headers,
            "remote_addr": client_address(request.META),
        }
        try:
            envelope = envelope_read(
                raw_body=raw_body,
                content_type=request.content_type,
                query=request.query_params,
                event_type=self.kwargs.get("event_type", ""),
                event_name=self.kwargs.get("event_name", ""),
            )
        except PayloadError as error:
            delivery_reject(http_status=400, cause=error.cause, raw_body=redacted.raw_body, **logged)
            return Response(error.detail, status=status.HTTP_400_BAD_REQUEST)

        event_type = event_type_get(envelope.event_type)
        if event_type is not None and event_type.answer is not None:
            answer = interview_receive(
                event_type=event_type,
                envelope=envelope,
                method=request.method,
                raw_body=redacted.raw_body,
                query_string=redacted.query_string,
                **logged,
            )
            return HttpResponse(answer.body, status=answer.status, content_type="application/json")

        # Other events are POSTed as JSON or a form (an empty POST falls through, to be told its body is empty).
        refusal = None
        if request.method != "POST":
            refusal = (status.HTTP_405_METHOD_NOT_ALLOWED, "only interview events are answered to GET")
        elif raw_body and not (envelope.is_json or envelope.is_form):
            refusal = (status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "events other than interview events are sent as JSON")
        if refusal:
            code, cause = refusal
            delivery_reject(
                http_status=code, cause=cause, raw_body=redacted.raw_body, event_type=envelope.event_type, **logged
            )
            detail = f"{envelope.event_type or 'This event'}: {cause} (application/json, POST)."
            return Response({"detail": detail}, status=code, headers={"Allow": "POST"} if code == 405 else None)

        try:
            receipt = event_receive(raw_body=redacted.raw_body, payload=envelope.payload, **logged)
        except DeliveryRejected as rejected:
            return Response(rejected.detail, status=status.HTTP_400_BAD_REQUEST)
        created = receipt.created
        # Written here rather than rendered by DRF (a template response, a renderer): the same
        # JSON, for a few microseconds instead of a tenth of the request's own CPU.
        answer = {"id": str(receipt.delivery.public_id), "status": "accepted" if created else "duplicate"}
        return HttpResponse(
            json.dumps(answer, separators=(",", ":")),
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            content_type="application/json",
        )

    def handle_exception(self, exc: Exception) -> Response:
        address = client_address(self.request.META)
        caller = self.request.auth if self.authentication_tried else None
        caller = caller if isinstance(caller, WebhookCaller) else None
        # Whatever refuses a caller not yet known (a bad code, or a body too large to check it
        # against) counts as a failed authentication: an HMAC source cannot be told apart otherwise.
        if self.authentication_tried and caller is None and isinstance(exc, exceptions.APIException):
            wait = auth_failure_record(address=address)
            if wait is not None:
                # Not logged: a flood of failures must not become a flood of rows.
                return super().handle_exception(
                    exceptions.Throttled(wait=wait, detail="Too many failed authentications; try again later.")
                )
        refused_source = getattr(exc, "source", None)
        if isinstance(exc, LOGGED_REFUSALS) and caller is None and not refusal_log_admit(source=refused_source):
            metrics.webhook_rejected(http_status=exc.status_code, cause=getattr(exc, "cause", "") or str(exc.detail))
        elif isinstance(exc, LOGGED_REFUSALS):
            source = caller.source if caller else getattr(exc, "source", None)
            delivery = delivery_reject(
                http_status=exc.status_code,
                cause=getattr(exc, "cause", "") or str(exc.detail),
                source=source,
                token=caller.token if caller else None,
                headers=headers_redact(self.request.META, source=source),
                remote_addr=address,
            )
            if getattr(exc, "kept", None) is not None:
                refused_request_keep(delivery=delivery, kept=exc.kept)
        return super().handle_exception(exc)


@csrf_exempt
def webhook_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any path under /webhooks/ that no webhook URL matches: a JSON 404 for any method.

    Senders are programs: an HTML page (or a redirect that drops a POST's body) helps none of them.
    """
    detail = "No webhook URL here: /webhooks/advance/ (a token names the source) or /webhooks/advance/<source slug>/."
    return JsonResponse({"detail": detail}, status=404)

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .authentication import IsWebhookCaller, SourceUrlAuthentication, WebhookTokenAuthentication
from .inbound import CallError, InboundCall, call_read
from .parsers import MalformedCall, RawFormParser, RawJsonParser, RawMultipartParser, request_body_read
from .registry import Answer
from .services import Receipt, WebhookCaller, signature_seen_record
from .services.calls import call_receive, call_refusal_record

# One encoder: json.dumps() with any argument makes a new one per call.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


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
    # The media types the endpoint takes, for its description; the body itself is read once by
    # webhooks.inbound.call_read, never through request.data.
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
    # The call as read once, by inbound_call().
    call: InboundCall | None = None

    def perform_authentication(self, request: Request) -> None:
        self.authentication_tried = True
        super().perform_authentication(request)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        caller = request.auth if self.authentication_tried else None
        # A signature is "seen" only once its call is answered 2xx: a retry of one that failed is no replay.
        if isinstance(caller, WebhookCaller) and caller.signature is not None and 200 <= response.status_code < 300:
            signature_seen_record(source=caller.source, match=caller.signature)
        allow = response.get("Allow")
        response = super().finalize_response(request, response, *args, **kwargs)
        if allow:
            # DRF writes every method the view serves into Allow; a refusal that named its own
            # (a GET of an event that is POSTed: `Allow: POST`) keeps it.
            response["Allow"] = allow
        return response

    def inbound_call(self) -> InboundCall:
        """The call as read once (webhooks.inbound): the first to need its body reads it, the HMAC
        check or, after a token's check, the event. A call that cannot be read one way only is
        refused before anything acts on a reading of it."""
        if self.call is None:
            try:
                body = request_body_read(self.request)
                self.call = call_read(method=self.request.method, meta=self.request.META, raw_body=body)
            except CallError as error:
                raise MalformedCall(error.detail, cause=error.cause) from None
        return self.call

    # /webhooks/advance/<slug>/<event_type>/[<event_name>/]: the URL names the event (see urls.py).
    def get(self, request: Request, **url_kwargs: str) -> HttpResponse:
        return self.dispatch_event(request)

    def post(self, request: Request, **url_kwargs: str) -> HttpResponse:
        call = self.inbound_call()
        if call.raw_body and not (call.is_json or call.form is not None):
            raise exceptions.UnsupportedMediaType(call.content_type.media_type)
        return self.dispatch_event(request)

    def dispatch_event(self, request: Request) -> HttpResponse:
        outcome = call_receive(
            caller=request.auth,
            call=self.inbound_call(),
            event_type=self.kwargs.get("event_type", ""),
            event_name=self.kwargs.get("event_name", ""),
        )
        if type(outcome) is Receipt:
            # Written here rather than rendered by DRF (a template response, a renderer): the same
            # JSON, for a few microseconds instead of a tenth of the request's own CPU.
            created = outcome.created
            answer = {"id": str(outcome.public_id), "status": "accepted" if created else "duplicate"}
            return HttpResponse(
                _compact_json(answer),
                status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
                content_type="application/json",
            )
        if type(outcome) is Answer:
            return HttpResponse(outcome.body, status=outcome.status, content_type="application/json")
        headers = {"Allow": outcome.allow} if outcome.allow else None
        return Response(outcome.detail, status=outcome.status, headers=headers)

    def handle_exception(self, exc: Exception) -> Response:
        caller = self.request.auth if self.authentication_tried else None
        answered = call_refusal_record(
            error=exc,
            caller=caller if isinstance(caller, WebhookCaller) else None,
            authentication_tried=self.authentication_tried,
            meta=self.request.META,
        )
        return super().handle_exception(answered)


@csrf_exempt
def webhook_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any path under /webhooks/ that no webhook URL matches: a JSON 404 for any method.

    Senders are programs: an HTML page (or a redirect that drops a POST's body) helps none of them.
    """
    detail = "No webhook URL here: /webhooks/advance/ (a token names the source) or /webhooks/advance/<source slug>/."
    return JsonResponse({"detail": detail}, status=404)

"""The OpenAPI description of the webhook endpoint (drf-spectacular), kept beside the URLs.

The endpoint's own module stays free of documentation decorators: an OpenApiViewExtension swaps
in an annotated subclass when the schema is generated, and an authentication extension tells
how the webhook token is sent. Served at /api/schema/ and browsable at /api/docs/ (Swagger UI)
and /api/redoc/, both from the drf-spectacular-sidecar package: no CDN at run time.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

EXAMPLE_EVENT = {
    "eventId": "d395c096-5ca0-4225-8542-6ba313b93c96",
    "eventType": "NewWorkItemVersionComplete",
    "createdDate": "2018-10-31T13:13:13.8096177Z",
    "createdBy": {
        "id": "c955a8fa-cd7a-413e-811b-fe8618121cba",
        "loginName": "john.smith@example.com",
        "accountType": "UserAccount",
    },
    "data": {
        "workItemId": "af8cee70-e59d-4a00-8b97-aa771f8b6ab9",
        "workItemVersionId": "20a06ea2-e6b3-4b04-bbeb-93913d4db9e4",
        "workItemName": "WI001",
        "documents": [
            {
                "id": "f8315acd-a2fa-5366-bca0-813f47c4b81c",
                "name": "Example Contract",
                "url": "https://advance.yourdomain.com/HdaApi/rest/v1.1/workitems/af8cee70-e59d-4a00-8b97-aa771f8b6ab9"
                "/documents/f8315acd-a2fa-5366-bca0-813f47c4b81c/content",
            }
        ],
    },
}

EventRequest = inline_serializer(
    "AdvanceEvent",
    {
        "eventId": serializers.CharField(help_text="Advance's id of the event; the same id again is a duplicate."),
        "eventType": serializers.ChoiceField(
            choices=[
                "NewWorkItemVersionComplete",
                "PostProcessingEvent",
                "InterviewLoadEvent",
                "CustomInterviewEvent",
            ],
            help_text="Matched without regard to case.",
        ),
        "eventName": serializers.CharField(
            required=False, help_text="CustomInterviewEvent: the event's name (or `interviewEventName`)."
        ),
        "createdDate": serializers.DateTimeField(required=False),
        "createdBy": inline_serializer(
            "AdvanceUser",
            {
                "id": serializers.CharField(required=False),
                "loginName": serializers.CharField(required=False),
                "accountType": serializers.CharField(required=False),
            },
            required=False,
        ),
        "data": inline_serializer(
            "AdvanceWorkItemVersion",
            {
                "workItemId": serializers.CharField(),
                "workItemVersionId": serializers.CharField(),
                "workItemName": serializers.CharField(required=False),
                "documents": inline_serializer(
                    "AdvanceDocument",
                    {
                        "id": serializers.CharField(),
                        "name": serializers.CharField(required=False),
                        "url": serializers.URLField(
                            required=False,
                            help_text="Fetched only when it has the source's API origin; "
                            "without documents they are listed through the API.",
                        ),
                    },
                    many=True,
                    required=False,
                ),
            },
            required=False,
        ),
    },
)

Receipt = inline_serializer(
    "WebhookReceipt",
    {
        "id": serializers.UUIDField(help_text="Our id of the event (the first delivery of its eventId)."),
        "status": serializers.ChoiceField(choices=["accepted", "duplicate"]),
    },
)
Problem = inline_serializer(
    "WebhookProblem",
    {"detail": serializers.CharField(help_text="What is wrong; a 400 may name fields instead.")},
)

DESCRIPTION = """\
The URL entered as the webhook's URL in HotDocs Advance.

**Authentication**: a webhook token (issued in the admin or by `webhook_token_create`) in the
`Authorization` header, bare or as `Bearer KEY`; the token also names the source. On
`/webhooks/advance/{source_slug}/` the URL names the source, which then authenticates by its own
method: an HMAC code made with its secret, or one of its tokens.

**Events to sync** (`NewWorkItemVersionComplete`, `PostProcessingEvent`) are POSTed as JSON. The
event is stored durably before the answer: `202` for a new event, `200` with `"duplicate"` for the
same `eventId` from the same source again (nothing is synced twice). Keys are matched without
regard to case; unknown keys are kept and ignored.

**Interview events** (`InterviewLoadEvent`, `CustomInterviewEvent`) are answered at once, by POST
or GET, with `200` and the answer JSON configured for the source (its InterviewLoadEvent answer,
or the answer of the CustomInterviewEvent named by `eventName` / `interviewEventName`); an event
name with no answer gets `404`. The event type and name are read from the top level of the JSON
body, from its `data`, from form fields or from the query string.

Never a 5xx for anything the sender put in the request.
"""

EXAMPLE_ID = "5f0c6a4e-3f4b-4c1e-9d55-0c8e1f1f6b21"
RESPONSES = {
    202: OpenApiResponse(
        Receipt,
        description="A new event, stored before this answer; its documents will be synced.",
        examples=[OpenApiExample("accepted", value={"id": EXAMPLE_ID, "status": "accepted"}, status_codes=["202"])],
    ),
    200: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description='The same eventId from the same source again: `{"id": ..., "status": "duplicate"}`, '
        "nothing synced twice. For an interview event: the configured answer JSON, as is.",
        examples=[
            OpenApiExample("duplicate", value={"id": EXAMPLE_ID, "status": "duplicate"}, status_codes=["200"]),
            OpenApiExample(
                "interview answer",
                value={"ClientName": "Acme Ltd", "Jurisdiction": "England and Wales"},
                status_codes=["200"],
            ),
        ],
    ),
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Unparseable JSON, a missing or malformed field, or an unknown event type; the body names it.",
        examples=[
            OpenApiExample(
                "missing field", value={"data": {"workItemId": ["This field is required."]}}, status_codes=["400"]
            ),
            OpenApiExample(
                "unknown type",
                value={"eventType": ["Unknown event type; accepted: NewWorkItemVersionComplete, ..."]},
                status_codes=["400"],
            ),
        ],
    ),
    401: OpenApiResponse(
        Problem, description="Missing, unknown, revoked or expired token (or a bad HMAC code); with WWW-Authenticate."
    ),
    404: OpenApiResponse(
        Problem,
        description="An interview event name with no answer configured; or no webhook URL at this path (a source "
        "slug that is not a slug): every path under /webhooks/ answers JSON.",
    ),
    405: OpenApiResponse(
        Problem, description="A GET for an event that is not an interview event, or a method not served; with Allow."
    ),
    413: OpenApiResponse(Problem, description="The body is larger than the limit (1 MiB by default); it is not read."),
    415: OpenApiResponse(Problem, description="A content type the endpoint does not accept (events are JSON)."),
    429: OpenApiResponse(
        Problem,
        description="Too many failed authentications from this address (an IPv6 address by its /64); with "
        "Retry-After. A call that authenticates is never throttled.",
    ),
}
# The headers that come with some answers (response_headers_conformance checks them).
RESPONSE_HEADERS = [
    OpenApiParameter(
        "WWW-Authenticate", str, OpenApiParameter.HEADER, required=True, response=[401], description="The scheme."
    ),
    OpenApiParameter("Allow", str, OpenApiParameter.HEADER, required=True, response=[405], description="`POST`."),
    OpenApiParameter(
        "Retry-After", int, OpenApiParameter.HEADER, required=True, response=[429], description="Seconds to wait."
    ),
]

INTERVIEW_QUERY = [
    OpenApiParameter("eventType", str, OpenApiParameter.QUERY, required=False, description="For GET calls."),
    OpenApiParameter("eventName", str, OpenApiParameter.QUERY, required=False, description="CustomInterviewEvent."),
]


class WebhookTokenScheme(OpenApiAuthenticationExtension):
    target_class = "webhooks.authentication.WebhookTokenAuthentication"
    name = "webhookToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The webhook token; `Authorization: KEY` (without `Bearer`) works too.",
        }


class ProjectAutoSchema(AutoSchema):
    """The project's schema class (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS)."""

    def get_operation_id(self) -> str:
        if self.path.startswith("/webhooks/advance/"):
            # One view serves several paths: name the operations after the path they are on.
            kind = "interview_event" if self.method == "GET" else "event"
            if "{event_name}" in self.path:
                return f"webhook_{kind}_for_interview_event_registration"
            if "{event_type}" in self.path:
                return f"webhook_{kind}_for_registration"
            return f"webhook_{kind}_for_source" if "{source_slug}" in self.path else f"webhook_{kind}"
        return super().get_operation_id()


class AdvanceWebhookSchema(OpenApiViewExtension):
    target_class = "webhooks.apis.AdvanceWebhookApi"

    def view_replacement(self):
        class Described(self.target_class):
            @extend_schema(
                summary="Receive an Advance event",
                description=DESCRIPTION,
                tags=["webhooks"],
                request={"application/json": EventRequest},
                responses=RESPONSES,
                parameters=RESPONSE_HEADERS,
                examples=[OpenApiExample("NewWorkItemVersionComplete", value=EXAMPLE_EVENT, request_only=True)],
            )
            def post(self, request, **url_kwargs):
                return super().post(request, **url_kwargs)

            @extend_schema(
                summary="Answer an interview event (GET)",
                description="InterviewLoadEvent and CustomInterviewEvent only; see the POST operation.",
                tags=["webhooks"],
                parameters=INTERVIEW_QUERY + RESPONSE_HEADERS,
                responses={code: RESPONSES[code] for code in (200, 400, 401, 404, 405, 413, 429)},
            )
            def get(self, request, **url_kwargs):
                return super().get(request, **url_kwargs)

        return Described

"""The OpenAPI description of the webhook endpoint (drf-spectacular), kept beside the URLs.

The endpoint's own module stays free of documentation decorators: an OpenApiViewExtension swaps
in an annotated subclass when the schema is generated, and an authentication extension tells
how the webhook token is sent. Served at /api/schema/ and browsable at /api/docs/ (Swagger UI)
and /api/redoc/, both from the drf-spectacular-sidecar package: no CDN at run time.
"""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiViewExtension,
)
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

# What the request parts look like, said in JSON Schema: the rules themselves are the endpoint's
# (the event serializers in documents/events.py, webhooks/payloads.py, webhooks/inbound.py), and
# schemathesis (tests/webhooks/test_api_schema.py) holds the two to agreeing both ways: a body
# described as valid is accepted, one described as invalid is refused.

# The characters str.strip() removes (str.isspace()), spelled out: regex engines disagree on \s.
SPACE = r"\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = rf"[^{SPACE}]"  # a string holding this (searched, not anchored) is not blank


def text(max_length: int, *, blank: bool = True, description: str = "") -> dict:
    """A DRF CharField as the endpoint has it: a string, trimmed of white space, then at most
    max_length characters (and not empty unless `blank`), without NUL; or a number, read as its text."""
    if blank:
        pattern = rf"^[{SPACE}]*[^\x00]{{0,{max_length}}}[{SPACE}]*$"
    else:
        pattern = rf"^[{SPACE}]*[^{SPACE}\x00](?:[^\x00]{{0,{max_length - 2}}}[^{SPACE}\x00])?[{SPACE}]*$"
    said = f"Text of at most {max_length} characters once trimmed of white space, no NUL"
    said += "" if blank else ", not blank"
    return {
        "anyOf": [{"type": "string", "pattern": pattern}, {"type": "number"}],
        "description": f"{description} {said}; or a number (read as its text, within the same length).".strip(),
    }


ADVANCE_ID = {
    # documents.events.AdvanceIdField: not trimmed; a number is read as its text, so an integer passes.
    "anyOf": [{"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}, {"type": "integer"}],
    "description": "An Advance id: 1 to 100 letters, digits, `-` or `_` (not trimmed); or an integer whose "
    "text is at most 100 characters.",
}
CREATED_DATE = {
    "type": "string",
    "format": "date-time",
    "nullable": True,
    "description": "ISO 8601, as Advance sends it (`2018-10-31T13:13:13.8096177Z`); null or absent allowed.",
}
CREATED_BY = {
    "type": "object",
    "nullable": True,
    "properties": {
        "id": text(100),
        "loginName": text(300),
        "accountType": text(100),
    },
}
DOCUMENT = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": ADVANCE_ID,
        "name": text(300),
        "url": {
            "anyOf": [{"type": "string", "maxLength": 2000, "pattern": r"^[^\x00]*$"}, {"type": "number"}],
            "description": "Any text of at most 2000 characters without NUL (not trimmed; a number is read as "
            "its text). Fetched only when it has the source's API origin, judged when the document is synced: "
            "a URL refused then fails its own document, not the event. Without documents, the version's "
            "documents are listed through the API.",
        },
    },
}
DOCUMENTS = {"type": "array", "maxItems": 500, "items": {"$ref": "AdvanceDocument"}}
VERSION_FIELDS = {
    "workItemId": ADVANCE_ID,
    "workItemVersionId": ADVANCE_ID,
    "workItemName": text(300),
    "documents": DOCUMENTS,
}
EVENT_ID = text(200, blank=False, description="Advance's id of the event; the same id again is a duplicate.")
EVENT_FIELDS = {
    "eventId": EVENT_ID,
    "createdDate": CREATED_DATE,
    "createdBy": {"$ref": "AdvanceUser"},
}


def event_type(name: str) -> dict:
    return {"type": "string", "enum": [name], "description": "Matched without regard to case or surrounding space."}


# An interview event's name: `eventName`, else `interviewEventName` (the first that is not blank).
# A name that is read must hold no NUL.
NAME_GIVEN = {"type": "string", "pattern": rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$"}  # not blank, no NUL
NAME_NOT_GIVEN = {"not": {"type": "string", "pattern": NOT_BLANK}}  # absent, blank, or no text at all
NAMED_BY_EVENT_NAME = {"required": ["eventName"], "properties": {"eventName": NAME_GIVEN}}
NAMED_BY_INTERVIEW_EVENT_NAME = {
    "required": ["interviewEventName"],
    "properties": {"eventName": NAME_NOT_GIVEN, "interviewEventName": NAME_GIVEN},
}
NOT_NAMED = {"properties": {"eventName": NAME_NOT_GIVEN, "interviewEventName": NAME_NOT_GIVEN}}
NAME_PROPERTIES = {
    "eventName": {"description": "CustomInterviewEvent: the event's name."},
    "interviewEventName": {"description": "The event's name, when `eventName` is absent or blank."},
}


class Described(serializers.Serializer):
    """A component of the description given as JSON Schema in `schema` (`{"$ref": "Name"}` names
    another Described component). Nothing validates with it: see DescribedSchema."""

    schema: dict = {}


class DescribedSchema(OpenApiSerializerExtension):
    target_class = Described
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        components = {cls.__name__: cls for cls in Described.__subclasses__()}

        def resolved(value):
            if isinstance(value, dict):
                if set(value) == {"$ref"}:
                    return auto_schema.resolve_serializer(components[value["$ref"]], direction).ref
                return {key: resolved(item) for key, item in value.items()}
            if isinstance(value, list):
                return [resolved(item) for item in value]
            return value

        return resolved(self.target.schema)


class AdvanceUser(Described):
    schema = CREATED_BY


class AdvanceDocument(Described):
    schema = DOCUMENT


class NewWorkItemVersionComplete(Described):
    schema = {
        "type": "object",
        "description": "A new version of a work item is complete: its documents are synced.",
        "required": ["eventId", "eventType", "data"],
        "properties": {
            **EVENT_FIELDS,
            "eventType": event_type("NewWorkItemVersionComplete"),
            "data": {"type": "object", "required": ["workItemId", "workItemVersionId"], "properties": VERSION_FIELDS},
        },
    }


class PostProcessingEvent(Described):
    schema = {
        "type": "object",
        "description": "An assembly completed (its payload is not documented by Advance): the documents it "
        "names are synced.",
        "required": ["eventId", "eventType"],
        "properties": {
            **EVENT_FIELDS,
            "eventType": event_type("PostProcessingEvent"),
            "data": {
                "type": "object",
                "description": "Documents need the workItemId and workItemVersionId they belong to.",
                "properties": VERSION_FIELDS,
                "anyOf": [
                    {"required": ["workItemId", "workItemVersionId"]},
                    {"properties": {"documents": {"maxItems": 0}}},
                ],
            },
        },
    }


class InterviewLoadEvent(Described):
    schema = {
        "type": "object",
        "description": "An interview opens: answered at once with the source's configured answer. Nothing else "
        "in the body is read.",
        "required": ["eventType"],
        "properties": {"eventType": event_type("InterviewLoadEvent"), **NAME_PROPERTIES},
        "anyOf": [NAMED_BY_EVENT_NAME, NAMED_BY_INTERVIEW_EVENT_NAME, NOT_NAMED],
    }


class CustomInterviewEvent(Described):
    schema = {
        "type": "object",
        "description": "An interview's event element: answered at once with the answer configured for its name. "
        "Nothing else in the body is read.",
        "required": ["eventType"],
        "properties": {"eventType": event_type("CustomInterviewEvent"), **NAME_PROPERTIES},
        "anyOf": [NAMED_BY_EVENT_NAME, NAMED_BY_INTERVIEW_EVENT_NAME],
    }


EVENT_TYPES = ["NewWorkItemVersionComplete", "PostProcessingEvent", "InterviewLoadEvent", "CustomInterviewEvent"]


class AdvanceEvent(Described):
    schema = {
        "required": ["eventType"],  # as every one of them does (and so the body is required)
        "oneOf": [{"$ref": name} for name in EVENT_TYPES],
        "discriminator": {"propertyName": "eventType"},
    }


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
        OpenApiTypes.ANY,  # an interview event's answer is whatever JSON was configured
        description='The same eventId from the same source again: `{"id": ..., "status": "duplicate"}` (the body '
        "was validated first, as for a new event), nothing synced twice. For an interview event: the answer JSON "
        "configured for it, as is (any JSON document).",
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
        Problem,
        description="No credential, or one that failed: no `Authorization` header (on an HMAC source's URL: no "
        "HMAC code), an unknown, revoked or expired token or another source's, a wrong HMAC code, or a source "
        "slug that names no active source; with WWW-Authenticate. A call without an `Authorization` header where "
        "a token is expected, or to a slug that names no active source, is always answered 401, never 429.",
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
        description="Too many failed authentications from this address (an IPv6 address by its /64) in the "
        "current window; with Retry-After. Counted are credentials that were checked and failed: a token that "
        "does not authenticate (unknown, revoked, expired, or another source's), a wrong or missing HMAC code on "
        "an HMAC source's URL, a body too large to check the code against. Not counted, and always answered "
        "401: a call with no credential at all, and a call to a URL whose slug names no active source. A call "
        "that authenticates is never throttled.",
    ),
}
# The headers that come with some answers (response_headers_conformance checks them).
RESPONSE_HEADERS = [
    OpenApiParameter(
        "WWW-Authenticate", str, OpenApiParameter.HEADER, required=True, response=[401], description="The scheme."
    ),
    OpenApiParameter(
        "Allow",
        str,
        OpenApiParameter.HEADER,
        required=True,
        response=[405],
        description="`POST` for a GET of an event that is not an interview event (it is POSTed); for a method "
        "the URL does not serve, the methods it does (`GET, POST, HEAD, OPTIONS`).",
    ),
    OpenApiParameter(
        "Retry-After", int, OpenApiParameter.HEADER, required=True, response=[429], description="Seconds to wait."
    ),
]

# A GET names its event in the query string (or, on a registration's URL, in the URL): the event
# type, and for a CustomInterviewEvent its name. One object parameter, since the name is needed
# for one type only (form style: its properties are the query's parameters).
QUERY_NAME_GIVEN = {"type": "string", "pattern": NAME_GIVEN["pattern"]}
QUERY_NAME_NOT_GIVEN = {"type": "string", "pattern": rf"^[{SPACE}]*$"}
QUERY_NAMES = {
    "eventName": {"type": "string", "description": "CustomInterviewEvent: the event's name."},
    "interviewEventName": {"type": "string", "description": "The event's name, when `eventName` is absent or blank."},
}
QUERY_NAMED = [
    {"required": ["eventName"], "properties": {"eventName": QUERY_NAME_GIVEN}},
    {
        "required": ["interviewEventName"],
        "properties": {"eventName": QUERY_NAME_NOT_GIVEN, "interviewEventName": QUERY_NAME_GIVEN},
    },
]
QUERY_NOT_NAMED = {"properties": {"eventName": QUERY_NAME_NOT_GIVEN, "interviewEventName": QUERY_NAME_NOT_GIVEN}}


def query_event(type_name: str | None) -> dict:
    """The query of a GET for this interview event type (None: the URL gives it)."""
    named = QUERY_NAMED if type_name == "CustomInterviewEvent" else [*QUERY_NAMED, QUERY_NOT_NAMED]
    # Other parameters are ignored, but none may be given twice (names compared without regard to
    # case), which a description cannot say of parameters it does not name: it names them all.
    closed = {"type": "object", "additionalProperties": False}
    if type_name is None:
        return {**closed, "properties": QUERY_NAMES, "anyOf": named}
    properties = {"eventType": event_type(type_name), **QUERY_NAMES}
    return {**closed, "required": ["eventType"], "properties": properties, "anyOf": named}


def query_parameter(schema: dict, description: str, *, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        "event", schema, OpenApiParameter.QUERY, required=required, style="form", explode=True, description=description
    )


INTERVIEW_QUERY = query_parameter(
    {"type": "object", "oneOf": [query_event("InterviewLoadEvent"), query_event("CustomInterviewEvent")]},
    "`eventType` (InterviewLoadEvent or CustomInterviewEvent) and, for a CustomInterviewEvent, its name in "
    "`eventName` (or `interviewEventName`). A GET for any other event type, or for none, is answered 405.",
    required=True,
)
REGISTRATION_QUERY = query_parameter(
    query_event(None),
    "Nothing is needed: the URL names the event. A name given here must hold no NUL.",
    required=False,
)
EVENT_TYPE_IN_URL = {
    "post": OpenApiParameter(
        "event_type",
        {"type": "string", "enum": EVENT_TYPES},
        OpenApiParameter.PATH,
        description="The event type of this registration; it wins over the body's (matched without regard to "
        "case). Any other is answered 400.",
    ),
    "get": OpenApiParameter(
        "event_type",
        {"type": "string", "enum": ["InterviewLoadEvent"]},
        OpenApiParameter.PATH,
        description="InterviewLoadEvent (CustomInterviewEvent has the URL with its name); a GET for an event that "
        "is no interview event is answered 405.",
    ),
}
EVENT_NAME_IN_URL = OpenApiParameter(
    "event_name",
    {"type": "string", "pattern": rf"^[^/\x00]*[^/\x00{SPACE}][^/\x00]*$"},
    OpenApiParameter.PATH,
    description="The CustomInterviewEvent's name (not blank, no NUL); it wins over any name in the request.",
)
ANY_JSON_OBJECT = {"type": "object", "additionalProperties": {}}


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

    def get_override_parameters(self) -> list:
        if not self.path.startswith("/webhooks/advance/"):
            return super().get_override_parameters()
        # One view serves several paths: each path says where its event is named.
        method = self.method.lower()
        if "{event_name}" in self.path:
            return [EVENT_NAME_IN_URL]
        if "{event_type}" in self.path:
            return [EVENT_TYPE_IN_URL[method]] + ([REGISTRATION_QUERY] if method == "get" else [])
        return [INTERVIEW_QUERY] if method == "get" else []

    def get_request_serializer(self):
        if not self.path.startswith("/webhooks/advance/"):
            return super().get_request_serializer()
        if "{event_name}" in self.path:
            # The URL names the interview event: nothing in the body is read, but it must be JSON.
            return {"application/json": ANY_JSON_OBJECT}
        return {"application/json": AdvanceEvent}

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
        class DescribedApi(self.target_class):
            @extend_schema(
                summary="Receive an Advance event",
                description=DESCRIPTION,
                tags=["webhooks"],
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
                parameters=RESPONSE_HEADERS,
                responses={code: RESPONSES[code] for code in (200, 400, 401, 404, 405, 413, 429)},
            )
            def get(self, request, **url_kwargs):
                return super().get(request, **url_kwargs)

        return DescribedApi

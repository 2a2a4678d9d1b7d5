"""Hostile input, property-based: whatever a sender puts in a request, the endpoint never answers
5xx, and nothing is half-stored.

Each example is one request through Django's test client into PostgreSQL; the examples of a test
share its database, so every assertion is about what that one request added.
"""

import base64
import hashlib
import hmac
import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import assume, given
from hypothesis import strategies as st

from documents.models import Document, WorkItem, WorkItemVersion
from interviews.services import answer_stored_set
from sources.models import Source
from webhooks.inbound import CallError, call_read
from webhooks.models import Delivery
from webhooks.services import source_hmac_configure, source_hmac_secret_set, token_issue

HMAC_SECRET = "hostile-hmac-secret"
EVENT_TYPES = ["NewWorkItemVersionComplete", "PostProcessingEvent", "InterviewLoadEvent", "CustomInterviewEvent"]

# Bodies ------------------------------------------------------------------------------------

# Strings that have broken things before, as likely as any other text.
nasty_strings = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfff",
        "\udfff\ud800",
        "../../etc/passwd",
        "é",
        "😀",
        "\u202e",
        "\r\n",
        "%00",
        "A" * 201,
        "x" * 5000,
        "GetClient",
        "NewWorkItemVersionComplete\x00",
    ]
)
strings = nasty_strings | st.text(max_size=50)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | strings
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
advance_ids = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True) | strings
documents = st.lists(
    st.fixed_dictionaries(
        {"id": advance_ids},
        optional={"name": strings, "url": strings | st.just("http://127.0.0.1:1/x")},
    ),
    max_size=3,
)
events = st.fixed_dictionaries(
    {
        "eventId": strings | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True) | json_scalars,
        "eventType": st.sampled_from(EVENT_TYPES) | json_scalars,
    },
    optional={
        "data": st.fixed_dictionaries(
            {"workItemId": advance_ids, "workItemVersionId": advance_ids},
            optional={"documents": documents, "workItemName": strings, "extra": json_values},
        )
        | json_values,
        "createdDate": st.just("2024-05-01T10:00:00Z") | json_scalars,
        "createdBy": json_values,
        "eventName": json_scalars,
        "interviewEventName": json_scalars,
    },
)


def json_bytes(value) -> bytes:
    # ensure_ascii keeps lone surrogates as \ud800 escapes, the way a hostile sender writes them.
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return (
        b'{"eventId": "deep", "eventType": "NewWorkItemVersionComplete", "data": ' + b"[" * depth + b"]" * depth + b"}"
    )


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(json_bytes),
    events.map(json_bytes),
    events.map(lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.integers(min_value=1, max_value=5000).map(nested),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\xff\xfe{}", b'{"eventId": "\xc3\x28"}', b"\x00" * 50, b"{" * 10_000, b'{"a":' * 3000]),
    st.integers(min_value=1, max_value=300_000).map(lambda size: b'{"eventId": "' + b"x" * size + b'"}'),
)

# Headers -----------------------------------------------------------------------------------

media_types = st.sampled_from(
    [
        "application/json",
        "APPLICATION/JSON",
        "Application/Json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "text/plain",
        "application/xml",
        "",
        "*/*",
        "application/*",
        "json",
        "/",
        ";",
    ]
)
content_types = st.one_of(
    media_types,
    st.tuples(
        media_types,
        st.sampled_from(
            [
                "; charset=utf-8",
                "; charset=UTF-8",
                "; charset=latin-1",
                "; charset=nonsense",
                "; charset=",
                "; boundary=x",
                "; boundary=",
                ';boundary="a b"',
                "; charset*=UTF-8''%E2%82%AC",
                "; charset*=bogus''x",
                ";;;",
                "; a=b; a=c",
                "; " + "p=v; " * 50,
            ]
        ),
    ).map("".join),
    st.text(max_size=80),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=80),
)
header_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True).map(lambda name: "HTTP_" + name)
header_values = strings | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=100)
extra_headers = st.dictionaries(header_names, header_values, max_size=5)
query_keys = st.sampled_from(["eventType", "EVENTTYPE", "eventName", "interviewEventName", "eventId"]) | strings
content_lengths = st.none() | st.sampled_from(["", "abc", "-1", "0", "1", " 5 ", "99999999999999999999", "1e3"])


# What a request adds -----------------------------------------------------------------------


def readable(body: bytes, content_type: str, query_string: str) -> bool:
    """Whether the endpoint can read this call one way only (the test client sends a content type
    only with a body)."""
    meta = {"QUERY_STRING": query_string, **({"CONTENT_TYPE": content_type} if body else {})}
    try:
        call_read(method="POST", meta=meta, raw_body=body)
    except CallError:
        return False
    return True


def counts() -> dict[str, int]:
    return {
        "deliveries": Delivery.objects.count(),
        "accepted": Delivery.objects.filter(status=Delivery.Status.ACCEPTED).count(),
        "work items": WorkItem.objects.count(),
        "versions": WorkItemVersion.objects.count(),
        "documents": Document.objects.count(),
    }


def assert_nothing_half_stored(before: dict[str, int], response) -> None:
    after = counts()
    added = {name: after[name] - before[name] for name in after}
    assert response.status_code < 500, response.content[:500]
    # Work items, versions and documents are recorded by a worker, never in the request.
    assert added["work items"] == added["versions"] == added["documents"] == 0, added
    if response.status_code == 202:
        assert (added["deliveries"], added["accepted"]) == (1, 1), added
        assert Delivery.objects.filter(public_id=response.json()["id"], status=Delivery.Status.ACCEPTED).exists()
    else:
        assert added["accepted"] == 0, added
        assert added["deliveries"] <= 1, added


@pytest.fixture
def keys(source) -> dict[str, str]:
    """A token for the token source `acme` and an HMAC source `signed` (code in the form field)."""
    _, key = token_issue(source=source, name="hostile")
    signed = Source.objects.create(
        slug="signed",
        api_base_url=source.api_base_url,
        auth_base_url=source.auth_base_url,
        client_name="c",
        principal_name="p",
    )
    source_hmac_configure(source=signed, signed_material="body", code_location="form", encoding="base64")
    source_hmac_secret_set(source=signed, secret=HMAC_SECRET)
    for answered in (source, signed):
        answer_stored_set(source=answered, event_type="CustomInterviewEvent", event_name="GetClient", answer_json="{}")
        answer_stored_set(source=answered, event_type="InterviewLoadEvent", event_name="", answer_json="[]")
    return {"token": key}


def encoded(text: str) -> str:
    """Percent-encoded as a sender would, lone surrogates included (as their UTF-8-like bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def hmac_code(body: bytes) -> str:
    return base64.b64encode(hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).digest()).decode()


@pytest.mark.django_db
class TestHostileInput:
    @given(
        method=st.sampled_from(["GET", "POST"]),
        credential=st.sampled_from(["token", "bearer token", "none", "garbage", "hmac", "hmac garbage"]),
        body=bodies,
        content_type=content_types,
        headers=extra_headers,
        query=st.dictionaries(query_keys, st.sampled_from(EVENT_TYPES) | strings, max_size=3),
    )
    def test_any_request_is_answered_below_500_and_nothing_is_half_stored(
        self, keys, method, credential, body, content_type, headers, query
    ):
        url = "/webhooks/advance/signed/" if credential.startswith("hmac") else "/webhooks/advance/"
        extra = dict(headers)
        if credential == "token":
            extra["HTTP_AUTHORIZATION"] = keys["token"]
        elif credential == "bearer token":
            extra["HTTP_AUTHORIZATION"] = f"Bearer {keys['token']}"
        elif credential == "garbage":
            extra["HTTP_AUTHORIZATION"] = "Bearer whk_" + "A" * 43
        else:
            extra.pop("HTTP_AUTHORIZATION", None)
        signed_body = body if method == "POST" else b""
        query = {key: value for key, value in query.items() if key.lower() != "token"}
        if credential == "hmac":
            query["token"] = hmac_code(signed_body)
        elif credential == "hmac garbage":
            query["token"] = "A" * 44
        query_string = "&".join(f"{encoded(key)}={encoded(value)}" for key, value in query.items())
        before = counts()

        response = Client().generic(
            method,
            f"{url}?{query_string}" if query_string else url,
            data=body if method == "POST" else b"",
            content_type=content_type,
            **extra,
        )

        assert_nothing_half_stored(before, response)
        if credential in ("none", "garbage", "hmac garbage"):
            # A caller that does not authenticate learns nothing about its body (413: too large to
            # verify); a Host header Django refuses is answered 400 before anything of ours runs.
            # At an HMAC source's URL, a call that cannot be read one way only is answered 400
            # before its code is checked: which code, over what, is the very question.
            sent = body if method == "POST" else b""
            unreadable = url.endswith("/signed/") and not readable(sent, content_type, query_string)
            assert response.status_code in (401, 413, 429) or (
                response.status_code == 400 and ("HTTP_HOST" in extra or unreadable)
            )

    @given(
        body=bodies,
        content_type=content_types,
        content_length=content_lengths,
        headers=extra_headers,
        remote_addr=st.sampled_from(["127.0.0.1", "::1", "", "unix:", "not an address", "10.0.0.1\x00"]),
    )
    def test_odd_lengths_addresses_and_headers_with_a_valid_token(
        self, keys, body, content_type, content_length, headers, remote_addr
    ):
        extra = {**headers, "HTTP_AUTHORIZATION": f"Bearer {keys['token']}", "REMOTE_ADDR": remote_addr}
        if content_length is not None:
            # Never more than what is there: the test client (unlike a server) cannot wait for more.
            assume(not content_length.strip().isdigit() or int(content_length) <= len(body))
            extra["CONTENT_LENGTH"] = content_length
        before = counts()

        response = Client().generic("POST", "/webhooks/advance/", data=body, content_type=content_type, **extra)

        assert_nothing_half_stored(before, response)

    @given(
        event=events,
        content_type=st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON; CHARSET=UTF-8"]
        ),
    )
    def test_event_shaped_bodies_with_a_valid_hmac_code(self, keys, event, content_type):
        body = json_bytes(event)
        before = counts()

        response = Client().post(
            f"/webhooks/advance/signed/?token={quote(hmac_code(body), safe='')}", data=body, content_type=content_type
        )

        assert_nothing_half_stored(before, response)
        assert response.status_code not in (401, 403, 415)


# One thing wrong at a time: a valid call with one part replaced by anything ---------------

FIELD_PATHS = [
    ("eventId",),
    ("eventType",),
    ("eventName",),
    ("interviewEventName",),
    ("createdDate",),
    ("createdBy",),
    ("data",),
    ("data", "workItemId"),
    ("data", "workItemVersionId"),
    ("data", "workItemName"),
    ("data", "documents"),
    ("data", "documents", 0),
    ("data", "documents", 0, "id"),
    ("data", "documents", 0, "url"),
    ("EVENTID",),
]
anything = nasty_strings | strings | json_scalars | json_values


def valid_event(event_type: str, event_id: str) -> dict:
    return {
        "eventId": event_id,
        "eventType": event_type,
        "eventName": "GetClient",
        "data": {
            "workItemId": "wi-1",
            "workItemVersionId": "v-1",
            "documents": [{"id": "d-1", "name": "Contract", "url": "https://acme.example.com/x"}],
        },
    }


def replaced(event: dict, path: tuple, value) -> dict:
    *parents, last = path
    target = event
    for step in parents:
        target = target[step]
    target[last] = value
    return event


@pytest.mark.django_db
class TestOneFieldWrong:
    @given(
        event_type=st.sampled_from(EVENT_TYPES),
        event_id=st.from_regex(r"[a-z0-9]{1,16}", fullmatch=True),
        path=st.sampled_from(FIELD_PATHS),
        value=anything,
        hmac_signed=st.booleans(),
    )
    def test_a_valid_event_with_one_field_replaced_by_anything(
        self, keys, event_type, event_id, path, value, hmac_signed
    ):
        body = json_bytes(replaced(valid_event(event_type, event_id), path, value))
        if hmac_signed:
            url, extra = f"/webhooks/advance/signed/?token={quote(hmac_code(body), safe='')}", {}
        else:
            url, extra = "/webhooks/advance/", {"HTTP_AUTHORIZATION": keys["token"]}
        before = counts()

        response = Client().post(url, data=body, content_type="application/json", **extra)

        assert_nothing_half_stored(before, response)
        assert response.status_code not in (401, 403, 415)

    @given(
        method=st.sampled_from(["GET", "POST"]),
        event_type=st.sampled_from(["CustomInterviewEvent", "InterviewLoadEvent", "customINTERVIEWevent"]) | strings,
        name_key=st.sampled_from(["eventName", "interviewEventName", "EVENTNAME"]),
        name=anything,
        place=st.sampled_from(["query", "json", "json data", "form", "multipart"]),
    )
    def test_an_interview_call_with_any_event_name_anywhere(self, keys, method, event_type, name_key, name, place):
        if place == "query" or method == "GET":
            fields = {"eventType": event_type, name_key: name if isinstance(name, str) else json.dumps(name)}
            url = "/webhooks/advance/?" + "&".join(f"{encoded(key)}={encoded(value)}" for key, value in fields.items())
            body, content_type = b"", "application/json"
        elif place.startswith("json"):
            url = "/webhooks/advance/"
            payload = {"eventType": event_type, name_key: name}
            body, content_type = json_bytes({"data": payload} if place == "json data" else payload), "application/json"
        else:
            url = "/webhooks/advance/"
            text = name if isinstance(name, str) else json.dumps(name)
            if place == "form":
                body = f"eventType={encoded(event_type)}&{name_key}={encoded(text)}".encode()
                content_type = "application/x-www-form-urlencoded"
            else:
                value = text.encode("utf-8", "surrogatepass")
                body = (
                    b'--b\r\nContent-Disposition: form-data; name="eventType"\r\n\r\n'
                    + event_type.encode("utf-8", "surrogatepass")
                    + b'\r\n--b\r\nContent-Disposition: form-data; name="'
                    + name_key.encode()
                    + b'"\r\n\r\n'
                    + value
                    + b"\r\n--b--\r\n"
                )
                content_type = "multipart/form-data; boundary=b"
        before = counts()

        response = Client().generic(
            method, url, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {keys['token']}"
        )

        assert_nothing_half_stored(before, response)


# Form bodies: field names that build nested objects and lists -------------------------------

# Segments of a `data[...][...]` name, as likely to be the odd ones as ordinary names.
name_segments = st.sampled_from(
    ["data", "documents", "id", "url", "0", "1", "499", "500", "\u00b2", "\u0663", "9" * 5000, "", " "]
) | st.text(max_size=8)
field_names = st.one_of(
    st.sampled_from(["eventId", "eventType", "data", "token", "workItemId", "documents"]),
    st.lists(name_segments, min_size=1, max_size=6).map(lambda parts: parts[0] + "".join(f"[{p}]" for p in parts[1:])),
    st.lists(name_segments, min_size=1, max_size=6).map(".".join),
    strings,
)
field_values = st.one_of(
    strings,
    json_values.map(json.dumps),
    st.sampled_from(EVENT_TYPES),
    # A field holding JSON nested far deeper than any field name can.
    st.integers(min_value=1, max_value=990).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=1, max_value=490).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)
form_field_lists = st.lists(st.tuples(field_names, field_values), max_size=8)


def urlencoded_body(fields: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{encoded(name)}={encoded(value)}" for name, value in fields).encode()


def multipart_body(fields: list[tuple[str, str]]) -> bytes:
    parts = [
        b'--b\r\nContent-Disposition: form-data; name="'
        + name.replace('"', "").replace("\r", "").replace("\n", "").encode("utf-8", "surrogatepass")
        + b'"\r\n\r\n'
        + value.encode("utf-8", "surrogatepass")
        + b"\r\n"
        for name, value in fields
    ]
    return b"".join(parts) + b"--b--\r\n"


@pytest.mark.django_db
class TestHostileForms:
    @given(
        fields=form_field_lists,
        multipart=st.booleans(),
        event_type=st.sampled_from(EVENT_TYPES),
    )
    def test_any_form_body_with_a_valid_token_is_answered_below_500(self, keys, fields, multipart, event_type):
        fields = [("eventId", "form-event"), ("eventType", event_type), *fields]
        if multipart:
            body, content_type = multipart_body(fields), "multipart/form-data; boundary=b"
        else:
            body, content_type = urlencoded_body(fields), "application/x-www-form-urlencoded"
        before = counts()

        response = Client().post(
            "/webhooks/advance/", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {keys['token']}"
        )

        assert_nothing_half_stored(before, response)
        assert response.status_code not in (401, 403, 415)

    @pytest.mark.parametrize(
        "field",
        [
            ("data[\u00b2]", "1"),  # a digit int() refuses
            ("data[" + "9" * 5000 + "]", "1"),  # an index longer than int() reads
            ("data", '{"a":' * 600 + "1" + "}" * 600),  # JSON nested deeper than the recursion limit allows
        ],
        ids=["superscript-index", "long-index", "deep-json-field"],
    )
    def test_each_known_breaker_is_a_400(self, keys, field):
        body = urlencoded_body([("eventId", "form-event"), ("eventType", "NewWorkItemVersionComplete"), field])
        before = counts()

        response = Client().post(
            "/webhooks/advance/",
            data=body,
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Bearer {keys['token']}",
        )

        assert_nothing_half_stored(before, response)
        assert response.status_code == 400, response.content[:300]
        assert Delivery.objects.filter(status=Delivery.Status.REJECTED).count() == 1  # logged, as a refusal

"""Hard limits on what a webhook call may contain: each at its boundary, one inside, one past it.

(tests/webhooks/test_intake.py covers a 201-character eventId, 100 000 levels of nesting and a
body over the size limit; these add the exact boundaries and the other fields.)
"""

import json

import pytest
from django.test import Client

from webhooks.models import Delivery
from webhooks.payloads import MAX_JSON_DEPTH

URL = "/webhooks/advance/"


def event(**changes) -> dict:
    payload = {
        "eventId": "limit-1",
        "eventType": "NewWorkItemVersionComplete",
        "data": {"workItemId": "wi-1", "workItemVersionId": "v-1", "workItemName": "Lease", "documents": []},
    }
    data = changes.pop("data", {})
    payload.update(changes)
    payload["data"].update(data)
    return payload


def post(key: str, body, **extra):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post(URL, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}", **extra)


def nested_lists(depth: int) -> bytes:
    """An event whose data.extra holds `depth` nested lists (the event object itself is depth 0)."""
    inner = b"[" * depth + b"]" * depth
    return json.dumps(event()).encode()[:-2] + b', "extra": ' + inner + b"}}"


@pytest.mark.django_db
class TestJsonDepth:
    def test_nesting_up_to_the_limit_is_accepted(self, token_key):
        # data is depth 1, so its value lists reach MAX_JSON_DEPTH with MAX_JSON_DEPTH - 1 of them.
        assert post(token_key, nested_lists(MAX_JSON_DEPTH - 1)).status_code == 202

    def test_one_level_past_the_limit_is_a_400_naming_the_depth(self, token_key):
        response = post(token_key, nested_lists(MAX_JSON_DEPTH))

        assert response.status_code == 400
        assert str(MAX_JSON_DEPTH) in response.json()["detail"]
        assert Delivery.objects.get().rejection_cause == "too deeply nested"

    @pytest.mark.parametrize("opener", [b"[", b'{"a":'])
    def test_nesting_deeper_than_the_parser_goes_is_a_400_not_a_crash(self, token_key, opener):
        assert post(token_key, opener * 200_000).status_code == 400


@pytest.mark.django_db
class TestFieldLengths:
    @pytest.mark.parametrize(
        ("changes", "limit_ok", "field"),
        [
            (lambda n: {"eventId": "e" * n}, 200, "eventId"),
            (lambda n: {"data": {"workItemId": "w" * n}}, 100, "workItemId"),
            (lambda n: {"data": {"workItemVersionId": "v" * n}}, 100, "workItemVersionId"),
            (lambda n: {"data": {"workItemName": "n" * n}}, 300, "workItemName"),
            (lambda n: {"data": {"documents": [{"id": "d" * n, "name": "x"}]}}, 100, "documents"),
            (lambda n: {"data": {"documents": [{"id": "d", "name": "x" * n}]}}, 300, "documents"),
            (lambda n: {"data": {"documents": [{"id": f"d{i}"} for i in range(n)]}}, 500, "documents"),
            (lambda n: {"createdBy": {"loginName": "l" * n}}, 300, "createdBy"),
        ],
    )
    def test_a_field_at_its_limit_is_accepted_and_one_past_it_is_a_400_naming_it(
        self, token_key, changes, limit_ok, field
    ):
        at_limit = post(token_key, event(**changes(limit_ok)))
        past = post(token_key, event(**changes(limit_ok + 1)))

        assert at_limit.status_code == 202, at_limit.content
        assert past.status_code == 400
        assert field in json.dumps(past.json())

    def test_an_event_type_past_100_characters_is_a_400_naming_it(self, token_key):
        response = post(token_key, event(eventType="X" * 101))

        assert response.status_code == 400
        assert "100 characters" in json.dumps(response.json()["eventType"])
        assert Delivery.objects.get().event_type == ""  # refused before it was recognised


@pytest.mark.django_db
class TestWhatIsLoggedIsCut:
    def test_long_headers_are_cut_to_1000_characters(self, token_key):
        response = post(token_key, event(), HTTP_X_LONG="h" * 50_000)

        assert response.status_code == 202
        assert Delivery.objects.get().headers["X-Long"] == "h" * 1000

    def test_a_long_interview_event_name_and_query_are_cut_to_their_columns(self, token_key):
        response = Client().get(
            URL,
            {"eventType": "CustomInterviewEvent", "eventName": "n" * 5000, "pad": "p" * 10_000},
            HTTP_AUTHORIZATION=f"Bearer {token_key}",
        )

        assert response.status_code == 404  # no answer configured for that name
        delivery = Delivery.objects.get()
        assert delivery.event_name == "n" * 200
        assert len(delivery.query_string) == 4000

    @pytest.mark.parametrize("where", ["header", "event name", "event type"])
    def test_nul_characters_never_reach_the_database(self, token_key, where):
        if where == "header":
            response = post(token_key, event(), HTTP_X_NUL="a\x00b")
        elif where == "event name":
            response = Client().get(
                URL,
                {"eventType": "CustomInterviewEvent", "eventName": "a\x00b"},
                HTTP_AUTHORIZATION=f"Bearer {token_key}",
            )
        else:
            response = Client().get(URL, {"eventType": "Custom\x00Event"}, HTTP_AUTHORIZATION=f"Bearer {token_key}")

        assert response.status_code in (202, 400, 405)
        stored = Delivery.objects.get()
        assert "\x00" not in json.dumps(stored.headers) + stored.event_name + stored.event_type

    def test_a_lone_surrogate_under_a_key_spelled_twice_is_a_400_though_the_first_spelling_wins(self, token_key):
        body = json.dumps({**event(), "EVENTID": "\ud800"}).encode()  # without EVENTID: accepted

        response = post(token_key, body)

        assert response.status_code == 400
        assert Delivery.objects.get().http_status == 400

    @pytest.mark.parametrize(
        "encoding",
        [
            "escaped",  # ASCII, as json.dumps writes it
            "utf-8",  # the surrogate's own bytes (json reads bytes with surrogatepass)
            "utf-16-le",  # json finds UTF-16 and UTF-32 from the NULs of the first bytes
            "utf-16-be",
            "utf-32-le",
            "escaped utf-16-le",  # the escape spelled in UTF-16: \x00u\x00d\x008...
        ],
    )
    @pytest.mark.parametrize("where", ["value", "key"])
    def test_a_lone_surrogate_in_the_json_is_a_400_however_the_body_is_encoded(self, token_key, encoding, where):
        payload = event(data={"workItemName": "\ud800"}) if where == "value" else {**event(), "x\udfff": 1}
        if encoding.startswith("escaped"):
            text = json.dumps(payload)
            assert "\\ud800" in text or "\\udfff" in text
            body = text.encode("ascii" if encoding == "escaped" else encoding.removeprefix("escaped "))
        else:
            body = json.dumps(payload, ensure_ascii=False).encode(encoding, "surrogatepass")
        assert json.loads(body) == payload  # what Python's json reads from it

        response = post(token_key, body)

        assert response.status_code == 400
        assert Delivery.objects.get().http_status == 400


@pytest.mark.django_db
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(token_key, settings):
    body = json.dumps(event()).encode()
    settings.WEBHOOK_MAX_BODY_BYTES = len(body) + 10
    padded = body[:-1] + b" " * 10 + b"}"

    assert post(token_key, padded).status_code == 202
    assert post(token_key, padded[:-1] + b" }").status_code == 413


@pytest.mark.django_db
def test_a_content_type_django_cannot_parse_is_judged_without_its_parameters(token_key):
    response = Client().post(
        URL,
        data=json.dumps(event()),
        content_type="application/json; charset*=bogus''x",
        HTTP_AUTHORIZATION=f"Bearer {token_key}",
    )

    assert response.status_code == 202

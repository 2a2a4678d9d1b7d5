"""What is verified is what is processed: a webhook call is read once (webhooks.inbound), and the
HMAC check, the stored body and the event are all that one reading.

The forged bodies below were each answered 202 before: a field whose name only looks like the
code field `token` was left out of what is signed, yet read as the event. Every near-name of the
code field is now the code field, so a form holding two of them is refused before anything acts
on it, through the real endpoint, a real worker and the simulated Advance; and the same bodies
are never accepted through "Adopt this scheme" either.
"""

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import quote

import pytest
import requests

from advance_sim import SimDocument, form_webhook_build
from documents.models import Document
from sources.models import Source
from tests.support.waiting import wait_for
from webhooks.inbound import CallError, PayloadError, call_read, is_code_name, query_redact
from webhooks.models import Delivery
from webhooks.payloads import payload_decode
from webhooks.services import source_hmac_configure, source_hmac_secret_set
from webhooks.services.intake import delivery_reject
from webhooks.services.refusals import (
    KEPT_PER_SOURCE,
    KeptRequest,
    deliveries_refused_recheck,
    delivery_schemes_matching,
    refused_request_keep,
)

SECRET = "advance-generated-secret-5e1f"
FORM = "application/x-www-form-urlencoded"
EVENT_URL = "/webhooks/advance/acme/NewWorkItemVersionComplete/"


def code_of(material: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), material, hashlib.sha256).digest()).decode()


def forged_event(advance=None) -> dict:
    """An event the attacker chose: a work item, version and document of their own."""
    return {
        "eventId": "forged-1",
        "eventType": "NewWorkItemVersionComplete",
        "data": {
            "workItemId": "attacker-item",
            "workItemVersionId": "attacker-version",
            "documents": [
                {
                    "id": "attacker-doc",
                    "name": "Planted",
                    "url": f"{advance.base_url if advance else 'http://127.0.0.1:1'}/WorkItems/x/Documents/y/Content",
                },
            ],
        },
    }


# Names that read as `token` under one normalisation or another, as they appear in a url-encoded
# body (already percent-encoded where the name needs it).
URLENCODED_NEAR_NAMES = {
    "leading-space": "%20token",
    "trailing-space": "token%20",
    "trailing-tab": "token%09",
    "leading-tab": "%09token",
    "plus-as-space": "+token",
    "upper-case": "TOKEN",
    "title-case": "Token",
    "percent-encoded-letter": "%74oken",
    "double-percent-encoded": "%2574oken",
    "fullwidth": quote("ｔｏｋｅｎ"),
    "zero-width-space": quote("to\u200bken"),
    "kelvin-sign": quote("to\u212aen"),
    "no-break-space": quote("\u00a0token"),
    "trailing-newline": "token%0A",
    "nul": "token%00",
}


def multipart(*parts: tuple[str, str], boundary: str = "b0undary") -> tuple[bytes, str]:
    """A multipart body of (Content-Disposition parameters, value) parts, byte for byte."""
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; {params}\r\n\r\n".encode() + value.encode() + b"\r\n"
        for params, value in parts
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


MULTIPART_NEAR_NAMES = {
    "leading-space": 'name=" token"',
    "trailing-tab": 'name="token\t"',
    "upper-case": 'name="TOKEN"',
    "percent-encoded": 'name="%74oken"',
    "fullwidth": 'name="ｔｏｋｅｎ"',
    "rfc-2231": "name*=UTF-8''token",
    "rfc-2231-beside-plain": "name=\"x\"; name*=UTF-8''token",
    "filename-part": 'name="payload"; filename="token"',
    "filename-named-token": 'name="token"; filename="event.json"',
    "unquoted": "name=Token",
    "repeated-name-parameter": 'name="payload"; name="token"',
}


def urlencoded_forgery(name: str, event: dict) -> bytes:
    """`<near-name>=<forged event>&token=<code of an empty body>`: the code of an empty body is
    public in effect (every interview GET carries it in ?token=)."""
    return f"{name}={quote(json.dumps(event))}&token={quote(code_of(b''), safe='')}".encode()


def multipart_forgery(params: str, event: dict) -> tuple[bytes, str]:
    return multipart((params, json.dumps(event)), ('name="token"', code_of(b"")))


def hmac_source(source: Source, **settings) -> Source:
    source_hmac_configure(source=source, **settings)
    source_hmac_secret_set(source=source, secret=SECRET)
    return source


# The reading itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", URLENCODED_NEAR_NAMES.values(), ids=URLENCODED_NEAR_NAMES.keys())
def test_every_near_name_of_the_code_field_is_the_code_field(name):
    call = call_read(method="POST", meta={"CONTENT_TYPE": FORM}, raw_body=f"{name}=the-code-1234&a=1".encode())

    assert call.code == "the-code-1234"
    assert call.form.fields == (("a", "1"),)
    assert call.body_without_code == b"a=1"
    assert query_redact(f"{name}=the-code-1234&a=1") == "a=1"


@pytest.mark.parametrize("name", ["tokens", "t0ken", "tok", "xtoken", "data[token]", "tоken"])  # the last: Cyrillic о
def test_names_that_are_other_words_are_fields_of_the_event(name):
    assert not is_code_name(name)


@pytest.mark.parametrize("name", URLENCODED_NEAR_NAMES.values(), ids=URLENCODED_NEAR_NAMES.keys())
def test_a_url_encoded_form_with_a_near_name_beside_token_is_refused(name):
    with pytest.raises(CallError, match="ambiguous form"):
        call_read(method="POST", meta={"CONTENT_TYPE": FORM}, raw_body=urlencoded_forgery(name, forged_event()))


@pytest.mark.parametrize("params", MULTIPART_NEAR_NAMES.values(), ids=MULTIPART_NEAR_NAMES.keys())
def test_a_multipart_form_with_a_near_name_beside_token_is_refused(params):
    body, content_type = multipart_forgery(params, forged_event())

    with pytest.raises(CallError):
        call_read(method="POST", meta={"CONTENT_TYPE": content_type}, raw_body=body)


@pytest.mark.parametrize(
    "body",
    [
        b"a=1&A=2",  # one field twice, by case
        b"eventId=e&eventId=f",
        b"data[workItemId]=w&data.workItemId=v",  # two spellings of one key
        b"workItemId=w&data[workItemId]=v",  # flat and nested
        ("p=" + quote(json.dumps({"eventId": "a"})) + "&q=" + quote(json.dumps({"eventId": "b"}))).encode(),
        ("p=" + quote(json.dumps({"eventId": "a"})) + "&eventType=NewWorkItemVersionComplete").encode(),
        b"token=abcdefgh12&token=abcdefgh12",
        b"a=%FF",  # not UTF-8
    ],
)
def test_a_form_read_two_ways_is_refused(body):
    # Refused by the reading (CallError) or, for two spellings of one key, by the event built from it.
    with pytest.raises(PayloadError):
        call = call_read(method="POST", meta={"CONTENT_TYPE": FORM}, raw_body=body)
        payload_decode(call.body_without_code, FORM)


def test_the_stored_body_reads_back_as_exactly_the_event_that_was_signed():
    fields = b"eventId=e-1&eventType=NewWorkItemVersionComplete&data%5BworkItemId%5D=w&&z=%7E"
    for body, content_type in (
        (fields + b"&%20ToKeN=" + quote(code_of(fields), safe="").encode(), FORM),
        multipart(('name="eventId"', "e-1"), ('name=" Token"', "c0de-1234"), ('name="data[workItemId]"', "w")),
    ):
        call = call_read(method="POST", meta={"CONTENT_TYPE": content_type}, raw_body=body)
        stored = call_read(method="POST", meta={"CONTENT_TYPE": content_type}, raw_body=call.body_without_code)

        assert stored.form.fields == call.form.fields and stored.code is None
        assert payload_decode(call.body_without_code, content_type)["data"] == {"workitemid": "w"}
        assert b"oken" not in call.body_without_code


def test_the_code_left_anywhere_else_in_the_call_is_refused():
    code = "c0de-that-is-long"
    with pytest.raises(CallError):
        call_read(method="POST", meta={"CONTENT_TYPE": FORM}, raw_body=f"token={code}&note={code}".encode())
    with pytest.raises(CallError):
        meta = {"CONTENT_TYPE": FORM, "QUERY_STRING": f"x={quote(code)}"}
        call_read(method="POST", meta=meta, raw_body=f"token={code}".encode())


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/form-data; boundary*=UTF-8''a",
        "multipart/form-data; boundary=" + "x" * 71,
    ],
)
def test_a_multipart_content_type_read_two_ways_is_refused(content_type):
    with pytest.raises(CallError):
        call_read(method="POST", meta={"CONTENT_TYPE": content_type}, raw_body=b"--a\r\n\r\n--a--")


# Through the real endpoint and a real worker ------------------------------------------------------


def _barrier_event_stored(advance, live_server, bucket) -> str:
    """Send one genuine signed event and wait for its document: whatever was queued before it ran."""
    item = advance.add_work_item(name="genuine", documents=[SimDocument(name="Genuine letter", kind="pdf")])
    body, content_type = form_webhook_build(advance.event_payload(item), secret=SECRET)
    answer = requests.post(live_server.url + EVENT_URL, data=body, headers={"Content-Type": content_type}, timeout=10)
    assert answer.status_code == 202

    def stored():
        documents = list(Document.objects.filter(version__work_item__advance_id=item.id))
        return documents if documents and all(d.status == Document.Status.STORED for d in documents) else None

    wait_for(stored, timeout=60, message="the genuine event's document")
    return item.id


def _nothing_forged_reached_advance_or_the_bucket(advance, bucket, genuine_item: str) -> None:
    assert not Delivery.objects.filter(event_id="forged-1").exists()
    assert not Document.objects.filter(advance_id="attacker-doc").exists()
    assert all(genuine_item in key for key in list(bucket.keys()))
    assert [request for request in advance.requests_for("/content") if "/x/" in request.path.lower()] == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_forged_forms_are_refused_by_the_endpoint_and_nothing_is_fetched_or_stored(
    stack, live_server, advance, source, bucket
):
    hmac_source(source, signed_material="body-without-token", code_location="form")
    answers = {}
    for case, name in URLENCODED_NEAR_NAMES.items():
        body = urlencoded_forgery(name, forged_event(advance))
        answers[f"urlencoded {case}"] = requests.post(
            live_server.url + EVENT_URL, data=body, headers={"Content-Type": FORM}, timeout=10
        )
    for case, params in MULTIPART_NEAR_NAMES.items():
        body, content_type = multipart_forgery(params, forged_event(advance))
        answers[f"multipart {case}"] = requests.post(
            live_server.url + EVENT_URL, data=body, headers={"Content-Type": content_type}, timeout=10
        )

    assert len(answers) >= 24
    assert {case: answer.status_code for case, answer in answers.items()} == dict.fromkeys(answers, 400)
    assert all("detail" in answer.json() for answer in answers.values())
    genuine = _barrier_event_stored(advance, live_server, bucket)
    _nothing_forged_reached_advance_or_the_bucket(advance, bucket, genuine)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_captured_json_field_under_a_near_name_does_not_carry_an_unsigned_event(
    stack, live_server, advance, source, bucket
):
    hmac_source(source, signed_material="json-field", code_location="form")
    item = advance.add_work_item(name="captured", documents=[SimDocument(kind="pdf")])
    captured = json.dumps(advance.event_payload(item))
    for name in ("%20token", "TOKEN", "%74oken", quote("ｔｏｋｅｎ")):
        body = (
            f"{name}={quote(captured)}&payload={quote(json.dumps(forged_event(advance)))}"
            f"&token={quote(code_of(captured.encode()), safe='')}"
        ).encode()

        answer = requests.post(live_server.url + EVENT_URL, data=body, headers={"Content-Type": FORM}, timeout=10)

        assert answer.status_code == 400, name
    source_hmac_configure(source=source, signed_material="body-without-token")
    genuine = _barrier_event_stored(advance, live_server, bucket)
    _nothing_forged_reached_advance_or_the_bucket(advance, bucket, genuine)
    assert not Document.objects.filter(version__work_item__advance_id=item.id).exists()


@pytest.mark.django_db
def test_an_interview_event_forged_with_a_near_name_is_not_answered(client, source):
    hmac_source(source, signed_material="body-without-token", code_location="form")
    event = {"eventId": "i-1", "eventType": "InterviewLoadEvent", "data": {"workItemId": "w", "answers": {}}}

    answer = client.post(
        "/webhooks/advance/acme/InterviewLoadEvent/", data=urlencoded_forgery("%20token", event), content_type=FORM
    )

    assert answer.status_code == 400
    assert not Delivery.objects.exclude(status=Delivery.Status.REJECTED).exists()


# "Adopt this scheme" and the kept refused calls -----------------------------------------------------


@pytest.mark.django_db
def test_forged_bodies_are_not_kept_so_adopting_a_scheme_accepts_none_of_them(admin_client, source):
    # A source still on its first guess (hex): a genuine call is refused and kept, forged ones are not.
    hmac_source(source, signed_material="body-without-token", code_location="form", encoding="hex")
    genuine_fields = (
        b"eventId=genuine&eventType=NewWorkItemVersionComplete&data[workItemId]=w&data[workItemVersionId]=v"
    )
    genuine = genuine_fields + b"&token=" + quote(code_of(genuine_fields), safe="").encode()
    assert admin_client.post(EVENT_URL, data=genuine, content_type=FORM).status_code == 401
    for name in URLENCODED_NEAR_NAMES.values():
        assert (
            admin_client.post(EVENT_URL, data=urlencoded_forgery(name, forged_event()), content_type=FORM).status_code
            == 400
        )
    for params in MULTIPART_NEAR_NAMES.values():
        body, content_type = multipart_forgery(params, forged_event())
        assert admin_client.post(EVENT_URL, data=body, content_type=content_type).status_code == 400
    [kept] = Delivery.objects.exclude(credentials_encrypted="")
    [number] = re.findall(r'value="(\d+)">Adopt this scheme', _adopt_page(admin_client, kept, "body-without-token"))

    adopted = admin_client.post(f"/admin/webhooks/delivery/{kept.pk}/adopt-scheme/", {"scheme": number})

    assert adopted.status_code == 302
    [accepted] = Delivery.objects.filter(status=Delivery.Status.ACCEPTED)
    assert accepted.event_id == "genuine"
    # Accepted from the very bytes that were verified, less the code field: nothing added or dropped.
    assert bytes(accepted.raw_body) == genuine_fields
    assert not Delivery.objects.filter(event_id="forged-1").exclude(status=Delivery.Status.REJECTED).exists()


def _adopt_page(admin_client, delivery, material: str) -> str:
    page = admin_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    offered = [
        line
        for line in re.findall(r"<li[^>]*>[^<]*<button[^>]*>Adopt this scheme", page)
        if f"of {material}, base64" in line and "SHA256" in line and "prefix" not in line
    ]
    return "".join(offered)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["%20token", "TOKEN", "%2574oken"])
def test_a_forged_call_kept_by_an_earlier_version_is_not_accepted_on_a_second_check(source, name):
    # Kept as the code before this one kept it: the redacted body apart, the original encrypted.
    hmac_source(source, signed_material="body-without-token", code_location="form", encoding="hex")
    original = urlencoded_forgery(name, forged_event())
    delivery = delivery_reject(http_status=401, cause="hmac: the HMAC code does not match", source=source)
    refused_request_keep(
        delivery=delivery,
        kept=KeptRequest(
            method="POST",
            raw_body=original.split(b"&token=")[0],
            query_string="",
            credentials={"token": code_of(b""), "body": base64.b64encode(original).decode()},
            headers={"Content-Type": FORM},
        ),
    )
    source_hmac_configure(source=source, encoding="base64")

    assert deliveries_refused_recheck(source=source) == (0, 1)
    assert not Delivery.objects.exclude(status=Delivery.Status.REJECTED).exists()


@pytest.mark.django_db
def test_a_flood_of_refused_calls_does_not_push_out_the_calls_worth_checking_again(client, source):
    hmac_source(source, signed_material="body", code_location="form", encoding="hex")
    genuine_addresses = ["203.0.113.10", "203.0.113.11"]
    for number, address in enumerate(genuine_addresses * 2):
        fields = f"eventId=g-{number}&eventType=NewWorkItemVersionComplete&data[workItemId]=w&data[workItemVersionId]=v"
        body = f"{fields}&token={quote(code_of(fields.encode()), safe='')}".encode()
        assert client.post(EVENT_URL, data=body, content_type=FORM, REMOTE_ADDR=address).status_code == 401
    # Noise that is no event is logged but not kept; events from one address displace their own.
    for number in range(KEPT_PER_SOURCE + 10):
        client.post(EVENT_URL, data=b"junk=1&token=abc", content_type=FORM, REMOTE_ADDR="198.51.100.7")
        fields = (
            f"eventId=flood-{number}&eventType=NewWorkItemVersionComplete&data[workItemId]=w&data[workItemVersionId]=v"
        )
        client.post(EVENT_URL, data=f"{fields}&token=00ff".encode(), content_type=FORM, REMOTE_ADDR="198.51.100.8")

    kept = Delivery.objects.exclude(credentials_encrypted="")
    assert kept.count() == KEPT_PER_SOURCE
    assert kept.filter(remote_addr__in=genuine_addresses).count() == 4
    assert not kept.filter(remote_addr="198.51.100.7").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", ["HMAC {code}", "Bearer {code}", "{code}", "hmac-sha256 {code}"])
def test_the_scheme_search_tries_the_authorization_header(client, source, authorization):
    # Advance's pages say in one place that the code is "passed ... in the Authorization header".
    hmac_source(source, signed_material="body", code_location="form")
    body = json.dumps({"eventId": "a-1", "eventType": "NewWorkItemVersionComplete", "data": {"workItemId": "w"}})
    code = code_of(body.encode())
    answer = client.post(
        "/webhooks/advance/acme/",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization.format(code=code),
    )
    assert answer.status_code == 401
    [kept] = Delivery.objects.exclude(credentials_encrypted="")

    schemes = delivery_schemes_matching(delivery=kept)

    assert ("body", "sha256", "base64", "authorization") in {
        (scheme.signed_material, scheme.algorithm, scheme.encoding, scheme.code_location) for scheme in schemes
    }

"""Advance's own webhook methods over real HTTP (issue 11, parts 1 and 2): the HMAC code in the form
field `token`, each scheme it may be computed by, one URL per webhook registration, and a call
refused by a wrong scheme that is accepted once the operator adopts the scheme that matches.

Everything runs: live_server, a real Celery worker, PostgreSQL, Redis, the S3 server and the
simulated Advance, whose sender computes the codes on its own (advance_sim/sender.py)."""

import re

import pytest
import requests
from django.test import Client

from advance_sim import (
    SimDocument,
    SimulatedAdvance,
    document_sha256,
    form_webhook_build,
    registration_url,
    send_form_webhook,
    without_event_names,
)
from documents.models import Document
from interviews.services import answer_stored_set
from sources.models import Source
from tests.support.waiting import wait_for
from webhooks.models import Delivery
from webhooks.services import source_hmac_configure, source_hmac_secret_set, token_issue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "advance-generated-secret-5e1f"


def hmac_source(source: Source, **settings) -> Source:
    source_hmac_configure(source=source, **settings)
    source_hmac_secret_set(source=source, secret=SECRET)
    return source


def work_item(advance: SimulatedAdvance, name: str):
    return advance.add_work_item(name=name, documents=[SimDocument(name=f"{name} letter", kind="pdf")])


def stored_documents(bucket, item) -> list[str]:
    """Wait for the work item's documents in S3 and return their keys, checking their bytes."""

    def stored():
        documents = list(Document.objects.filter(version__work_item__advance_id=item.id))
        done = documents and all(d.status == Document.Status.STORED for d in documents)
        return documents if done else None

    documents = wait_for(stored, timeout=60, message=f"documents of {item.name}")
    keys = [key for key in list(bucket.keys()) if f"/{item.id}/" in key]
    assert len(keys) == len(item.documents) == len(documents)
    for key, expected in zip(sorted(keys), sorted(item.documents, key=lambda d: d.id), strict=True):
        assert bucket.get(key)["Metadata"]["sha256"] == document_sha256(expected)
    return keys


@pytest.mark.parametrize(
    ("scheme", "build"),
    [
        ("body-without-token", {"multipart": False}),
        ("body-without-token", {"multipart": True}),
        ("json-field", {"multipart": False, "json_field": "payload"}),
        ("json-field", {"multipart": True, "json_field": "json"}),
        ("shared-value", {"multipart": False}),
    ],
    ids=["urlencoded-fields", "multipart-fields", "urlencoded-json-field", "multipart-json-field", "shared-value"],
)
def test_a_form_body_with_its_code_in_the_token_field_is_accepted_and_its_documents_stored(
    stack, live_server, advance, source, bucket, scheme, build
):
    hmac_source(source, signed_material=scheme, code_location="form")
    item = work_item(advance, f"form-{scheme}")

    response = send_form_webhook(
        f"{live_server.url}/webhooks/advance/acme/", advance.event_payload(item), secret=SECRET, scheme=scheme, **build
    )

    assert response.status_code == 202, response.content
    assert stored_documents(bucket, item)
    delivery = Delivery.objects.get(public_id=response.json()["id"])
    assert not re.search(rb'(^|&)token=|name="token"', bytes(delivery.raw_body))  # the code's field is not kept


def test_a_wrong_secret_in_a_form_body_is_refused(stack, live_server, advance, source):
    hmac_source(source, signed_material="body-without-token")
    item = work_item(advance, "wrong")

    response = send_form_webhook(
        f"{live_server.url}/webhooks/advance/acme/", advance.event_payload(item), secret="not-the-secret"
    )

    assert response.status_code == 401
    assert not Delivery.objects.filter(status=Delivery.Status.ACCEPTED).exists()


def test_a_per_url_event_whose_body_has_no_event_type_is_accepted_and_synced(
    stack, live_server, advance, source, bucket
):
    hmac_source(source, signed_material="body-without-token")
    item = work_item(advance, "per-url")
    url = registration_url(live_server.url, "acme", "NewWorkItemVersionComplete")

    response = send_form_webhook(url, without_event_names(advance.event_payload(item)), secret=SECRET)

    assert response.status_code == 202, response.content
    assert stored_documents(bucket, item)
    assert Delivery.objects.get(public_id=response.json()["id"]).event_type == "NewWorkItemVersionComplete"


def test_the_url_event_type_wins_over_the_body(stack, live_server, advance, source, bucket, token_key):
    item = work_item(advance, "url-wins")
    payload = {**advance.event_payload(item), "eventType": "InterviewLoadEvent"}

    response = requests.post(
        registration_url(live_server.url, "acme", "NewWorkItemVersionComplete"),
        json=payload,
        headers={"Authorization": f"Bearer {token_key}"},
        timeout=10,
    )

    assert response.status_code == 202, response.content
    assert stored_documents(bucket, item)


def test_a_per_url_custom_interview_event_get_without_type_or_name_is_answered(stack, live_server, advance, source):
    hmac_source(source, signed_material="shared-value")
    answer_stored_set(
        source=source, event_type="CustomInterviewEvent", event_name="Client lookup", answer_json='{"Client": "Ada"}'
    )
    url = registration_url(live_server.url, "acme", "CustomInterviewEvent", "Client lookup")

    response = requests.get(url, params={"workItemId": "wi-1", "token": SECRET}, timeout=10)

    assert response.status_code == 200, response.content
    assert response.json() == {"Client": "Ada"}
    delivery = Delivery.objects.get()
    assert (delivery.event_type, delivery.event_name) == ("CustomInterviewEvent", "Client lookup")
    assert delivery.query_string == "workItemId=wi-1"  # the code is not kept


def test_a_token_of_another_source_on_a_per_url_path_is_401(
    stack, live_server, advance, source, other_source, token_key, bucket
):
    _, other_key = token_issue(source=other_source, name="other's")
    item = work_item(advance, "foreign")
    url = registration_url(live_server.url, "acme", "NewWorkItemVersionComplete")

    foreign = requests.post(
        url, json=advance.event_payload(item), headers={"Authorization": f"Bearer {other_key}"}, timeout=10
    )
    own = requests.post(
        url, json=advance.event_payload(item), headers={"Authorization": f"Bearer {token_key}"}, timeout=10
    )

    assert foreign.status_code == 401
    assert own.status_code == 202
    assert stored_documents(bucket, item)  # the source's own token works, and nothing is left running


def test_a_call_refused_by_a_wrong_scheme_is_accepted_after_the_operator_adopts_the_matching_one(
    stack, live_server, advance, source, bucket, admin_user
):
    # Configured as the default guess (a code over the raw body); Advance signs the body without the field.
    hmac_source(source, signed_material="body", code_location="form")
    item = work_item(advance, "journey")
    body, content_type = form_webhook_build(advance.event_payload(item), secret=SECRET)
    code = re.search(rb"token=([^&]+)", body).group(1).decode()

    refused = requests.post(
        f"{live_server.url}/webhooks/advance/acme/", data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert refused.status_code == 401
    [delivery] = Delivery.objects.filter(status=Delivery.Status.REJECTED)
    assert delivery.credentials_encrypted and code not in delivery.credentials_encrypted

    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    assert "HMAC-SHA256 of body-without-token, base64, in the token field" in page
    # The scheme that refused it is not offered: the body as sent held the code.
    assert "HMAC-SHA256 of body, base64, in the token field" not in page
    [(number, description)] = [
        (match.group(2), match.group(1))
        for match in re.finditer(r"<li[^>]*>([^<]*) <button[^>]*value=\"(\d+)\">Adopt this scheme", page)
        if "body-without-token" in match.group(1) and "SHA256" in match.group(1) and "prefix" not in match.group(1)
    ]

    adopted = browser.post(f"/admin/webhooks/delivery/{delivery.pk}/adopt-scheme/", {"scheme": number})

    assert adopted.status_code == 302
    source.refresh_from_db()
    assert (source.hmac_signed_material, source.hmac_code_location) == ("body-without-token", "form")
    assert stored_documents(bucket, item)
    delivery.refresh_from_db()
    assert delivery.accepted_as is not None and delivery.credentials_encrypted == ""
    # Marked processed once its handler has returned, which may be just after its documents were stored.
    wait_for(
        lambda: Delivery.objects.get(pk=delivery.accepted_as_id).status == Delivery.Status.PROCESSED,
        message="the accepted event to be processed",
    )
    # The same call again is now accepted as what it is: a duplicate of the event.
    again = requests.post(
        f"{live_server.url}/webhooks/advance/acme/", data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert again.json()["status"] == "duplicate"

"""End to end over the real stack: a webhook over HTTP, a real Celery worker, PostgreSQL, Redis,
the S3 server and the simulated Advance over HTTP. Assertions are on the bytes in S3."""

import hashlib
import json
from pathlib import Path

import pytest

from advance_sim import SimDocument, SimulatedAdvance, document_bytes, document_sha256
from documents.models import Document
from tests.factories import send
from tests.support.waiting import wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "payload-new-work-item-version-complete.json"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_documented_example_payload_ends_as_the_exact_bytes_at_the_contract_key(
    stack, advance, token_key, webhook_url, bucket
):
    example = json.loads(EXAMPLE.read_text())
    data = example["data"]
    document = SimDocument(id=data["documents"][0]["id"], name=data["documents"][0]["name"], kind="docx")
    advance.add_work_item(work_item_id=data["workItemId"], name=data["workItemName"], documents=[document])
    # The example's URL, pointed at the simulated Advance: same path, our origin.
    data["documents"][0]["url"] = data["documents"][0]["url"].replace(
        "https://advance.yourdomain.com", advance.base_url
    )

    response = send(webhook_url, example, token_key)

    assert response.status_code == 202
    [stored] = wait_until_settled(1)
    assert stored.status == Document.Status.STORED, stored.last_error
    key = f"advance/acme/{data['workItemId']}/{data['workItemVersionId']}/{document.id}/Example Contract.docx"
    assert bucket.keys() == [key]
    s3_object = bucket.get(key)
    body = s3_object["Body"].read()
    assert body == document_bytes(document)
    assert s3_object["ContentType"] == DOCX
    assert s3_object["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert stored.storage_key == key
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.size == len(body)
    assert stored.version.work_item.name == "WI001"
    assert stored.version.created_by_login == "john.smith@example.com"
    assert Delivery.objects.get(public_id=response.json()["id"]).status == Delivery.Status.PROCESSED


def test_same_event_delivered_again_stores_nothing_new(stack, advance, token_key, webhook_url, bucket):
    work_item = advance.add_work_item(documents=[SimDocument(kind="docx"), SimDocument(name="Invoice", kind="pdf")])
    payload = advance.event_payload(work_item)

    first = send(webhook_url, payload, token_key)
    wait_until_settled(2)
    keys = bucket.keys()
    modified = {key: bucket.get(key)["LastModified"] for key in keys}
    again = [send(webhook_url, payload, token_key) for _ in range(3)]

    assert first.status_code == 202
    assert [r.status_code for r in again] == [200, 200, 200]
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    assert len(keys) == 2
    assert bucket.keys() == keys
    assert {key: bucket.get(key)["LastModified"] for key in keys} == modified
    assert len(advance.requests_for("/content")) == 2
    assert Document.objects.count() == 2


def test_event_without_documents_lists_them_through_the_api(stack, advance, token_key, webhook_url, bucket):
    docx, pdf = SimDocument(name="Lease", kind="docx"), SimDocument(name="Lease summary", kind="pdf")
    work_item = advance.add_work_item(name="Lease 12", documents=[docx, pdf])
    payload = advance.event_payload(work_item, include_documents=False)

    assert send(webhook_url, payload, token_key).status_code == 202
    documents = wait_until_settled(2)

    assert {d.status for d in documents} == {Document.Status.STORED}
    listed = f"/WorkItems/{work_item.id}/Documents"
    [listing, *downloads] = [r.path.rsplit("/HdaApi/rest/v1.1", 1)[1] for r in advance.requests_for(listed)]
    # Listed once; then each document downloaded once, the two at once (in either order).
    assert listing == listed
    assert sorted(downloads) == sorted(f"{listed}/{document.id}/Content" for document in (docx, pdf))
    prefix = f"advance/acme/{work_item.id}/{payload['data']['workItemVersionId']}"
    assert bucket.keys() == sorted([f"{prefix}/{docx.id}/Lease.docx", f"{prefix}/{pdf.id}/Lease summary.pdf"])
    pdf_object = bucket.get(f"{prefix}/{pdf.id}/Lease summary.pdf")
    assert pdf_object["ContentType"] == "application/pdf"
    assert pdf_object["Metadata"]["sha256"] == document_sha256(pdf)


def test_url_of_another_origin_is_never_requested(stack, advance, token_key, webhook_url, bucket):
    with SimulatedAdvance() as elsewhere:
        stolen = elsewhere.add_work_item(documents=[SimDocument(kind="pdf")])
        work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
        payload = advance.event_payload(work_item)
        payload["data"]["documents"].append(
            {
                "id": stolen.documents[0].id,
                "name": "Stolen",
                "url": elsewhere.document_url(stolen.id, stolen.documents[0].id),
            }
        )

        assert send(webhook_url, payload, token_key).status_code == 202
        documents = wait_until_settled(2)

        assert elsewhere.requests == []
    refused = next(d for d in documents if d.advance_id == stolen.documents[0].id)
    assert refused.status == Document.Status.FAILED
    assert "another origin" in refused.last_error
    assert len(bucket.keys()) == 1


def test_expired_access_token_logs_in_again_once(stack, advance, token_key, webhook_url, bucket):
    first = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    send(webhook_url, advance.event_payload(first), token_key)
    wait_until_settled(1)
    logins = advance.login_count
    advance.expire_tokens()
    second = advance.add_work_item(documents=[SimDocument(kind="pdf")])

    send(webhook_url, advance.event_payload(second), token_key)
    documents = wait_until_settled(2)

    assert [d.status for d in documents] == [Document.Status.STORED, Document.Status.STORED]
    assert advance.login_count == logins + 1  # one re-log-in, by the one worker process
    assert len(bucket.keys()) == 2


def test_transient_advance_failure_is_retried_until_stored(stack, advance, token_key, webhook_url, bucket):
    document = SimDocument(kind="docx")
    work_item = advance.add_work_item(documents=[document])
    advance.fail_next(2, 503, path_contains="/content", headers={"Retry-After": "1"})

    send(webhook_url, advance.event_payload(work_item), token_key)
    [stored] = wait_until_settled(1, timeout=90)

    assert stored.status == Document.Status.STORED
    assert stored.attempts == 3
    assert bucket.get(stored.storage_key)["Body"].read() == document_bytes(document)


def test_missing_document_fails_at_once_with_the_reason(stack, advance, token_key, webhook_url, bucket):
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    payload = advance.event_payload(work_item)
    payload["data"]["documents"][0]["url"] = advance.document_url(work_item.id, "0000-missing")

    send(webhook_url, payload, token_key)
    [failed] = wait_until_settled(1)

    assert failed.status == Document.Status.FAILED
    assert "404" in failed.last_error
    assert failed.attempts == 1
    assert bucket.keys() == []


def test_large_document_streams_through_multipart_upload(stack, advance, token_key, webhook_url, bucket):
    # Over the 5 MiB part size of the test settings, so the upload is multipart.
    document = SimDocument(kind="pdf", size=12 * 1024 * 1024 + 123, chunked=True)
    work_item = advance.add_work_item(documents=[document])

    send(webhook_url, advance.event_payload(work_item), token_key)
    [stored] = wait_until_settled(1, timeout=90)

    assert stored.status == Document.Status.STORED, stored.last_error
    s3_object = bucket.get(stored.storage_key)
    assert s3_object["ContentLength"] == document.size
    assert s3_object["Metadata"]["sha256"] == document_sha256(document)
    assert hashlib.sha256(s3_object["Body"].read()).hexdigest() == document_sha256(document)

"""Advance ids are matched whole: an id with a line break or a NUL after it, from a webhook or from
Advance's list calls, never reaches a row, a storage key or a log line."""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from advance_sim import SimDocument
from documents.events import advance_id_validator
from documents.models import Document, WorkItem, WorkItemVersion
from tests.support.waiting import wait_until_settled
from webhooks.models import Delivery

URL = "/webhooks/advance/"
TAILS = ["\n", "\r\n", "\x00"]


def event(event_type: str = "NewWorkItemVersionComplete", **data) -> dict:
    documents = [{"id": "doc-1", "name": "Contract", "url": ""}]
    return {
        "eventId": "evt-ids",
        "eventType": event_type,
        "data": {"workItemId": "wi-1", "workItemVersionId": "v-1", "documents": documents, **data},
    }


@pytest.mark.parametrize("tail", TAILS)
def test_an_id_with_anything_after_it_is_not_an_advance_id(tail):
    advance_id_validator("abc")
    with pytest.raises(ValidationError):
        advance_id_validator("abc" + tail)


@pytest.mark.django_db
@pytest.mark.parametrize("tail", TAILS)
@pytest.mark.parametrize("field", ["workItemId", "workItemVersionId", "documentId"])
@pytest.mark.parametrize("event_type", ["NewWorkItemVersionComplete", "PostProcessingEvent"])
def test_the_endpoint_refuses_an_event_whose_id_ends_in_a_line_break_or_nul(token_key, tail, field, event_type):
    if field == "documentId":
        payload = event(event_type, documents=[{"id": "abc" + tail, "name": "Contract", "url": ""}])
    else:
        payload = event(event_type, **{field: "abc" + tail})

    response = Client().post(
        URL, data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_key}"
    )

    assert response.status_code == 400
    assert not Delivery.objects.exclude(status=Delivery.Status.REJECTED).exists()
    assert not WorkItem.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_reconcile_records_nothing_of_listed_ids_that_end_in_a_line_break_or_nul(stack, advance, source, bucket):
    good = advance.add_work_item(
        name="Good",
        documents=[SimDocument(id="doc-ok"), *(SimDocument(id=f"doc-bad{tail}") for tail in TAILS)],
    )
    for n, tail in enumerate(TAILS):
        advance.add_work_item(work_item_id=f"wi-bad{tail}", name=f"Bad work item {n}")
        advance.add_work_item(name=f"Bad version {n}").versions[-1].id = f"v-bad{tail}"

    call_command("advance_reconcile", "acme", "--no-progress", stdout=StringIO())
    [stored] = wait_until_settled(1)

    assert (stored.advance_id, stored.status) == ("doc-ok", Document.Status.STORED)
    assert bucket.keys() == [f"advance/acme/{good.id}/{good.version_id}/doc-ok/Example Contract.docx"]
    assert list(WorkItem.objects.values_list("advance_id", flat=True)) == [good.id]
    assert list(WorkItemVersion.objects.values_list("advance_id", flat=True)) == [good.version_id]
    # Nothing was asked of Advance about the refused ids either.
    assert not [r for r in advance.requests if "-bad" in r.path]

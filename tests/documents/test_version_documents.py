"""An event naming no documents: the documents of the version it named (Advance v2.0's
version-scoped list), or, on API v1.1 where only the work item's latest list exists, those
marked as possibly a later version's. Over the real stack."""

import pytest
from django.urls import reverse

from advance_sim import SimDocument, SimulatedAdvance, document_bytes
from documents.models import Document, WorkItemVersion
from sources.models import SourceSync
from tests.factories import send
from tests.support.waiting import wait_for, wait_until_settled
from webhooks.models import Delivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def advance():
    """An Advance whose API base URL is v2.0 (the `source` fixture registers this one)."""
    with SimulatedAdvance(api_prefix="/HdaApi/rest/v2.0") as simulated:
        yield simulated


@pytest.fixture
def advance_v11():
    with SimulatedAdvance() as simulated:
        simulated.version_scoped_documents = False  # v1.1 has no version-scoped list
        yield simulated


@pytest.fixture
def two_versions(advance):
    """A work item whose first version's event comes after a second version completed."""
    first = SimDocument(name="First draft", kind="docx")
    work_item = advance.add_work_item(documents=[first])
    first_version = work_item.version_id
    second = SimDocument(name="Second draft", kind="pdf")
    advance.new_version(work_item, documents=[second])
    return work_item, first_version, first, second


def scope_set(source, scope: str) -> None:
    SourceSync.objects.update_or_create(source=source, defaults={"documents_scope": scope})


def test_the_documents_of_the_version_the_event_named_are_stored(
    stack, advance, source, token_key, webhook_url, bucket, two_versions
):
    work_item, first_version, first, _ = two_versions
    payload = advance.event_payload(work_item, version_id=first_version, include_documents=False)

    assert send(webhook_url, payload, token_key).status_code == 202
    [stored] = wait_until_settled(1)

    assert stored.status == Document.Status.STORED, stored.last_error
    assert stored.advance_id == first.id
    assert bucket.keys() == [f"advance/acme/{work_item.id}/{first_version}/{first.id}/First draft.docx"]
    assert bucket.get(stored.storage_key)["Body"].read() == document_bytes(first)
    assert stored.version.documents_from == WorkItemVersion.DocumentsFrom.VERSION
    assert len(advance.requests_for(f"/Versions/{first_version}/Documents/{first.id}/Content")) == 1
    assert advance.requests_for(f"/WorkItems/{work_item.id}/Documents") == []


def test_on_api_v1_the_latest_list_is_used_and_marked(
    stack, advance_v11, source, token_key, webhook_url, bucket, admin_client
):
    advance = advance_v11
    source.api_base_url, source.auth_base_url = advance.api_base_url, advance.auth_base_url
    source.client_name, source.principal_name = advance.client_name, advance.principal_name
    source.set_principal_password(advance.principal_password)
    source.save()
    work_item = advance.add_work_item(documents=[SimDocument(name="First draft", kind="docx")])
    first_version = work_item.version_id
    second = SimDocument(name="Second draft", kind="pdf")
    advance.new_version(work_item, documents=[second])
    payload = advance.event_payload(work_item, version_id=first_version, include_documents=False)

    send(webhook_url, payload, token_key)
    [stored] = wait_until_settled(1)

    # What Advance's v1.1 offers: the latest version's documents, recorded as such.
    assert stored.advance_id == second.id
    assert bucket.get(stored.storage_key)["Body"].read() == document_bytes(second)
    version = stored.version
    assert version.advance_id == first_version
    assert version.documents_from == WorkItemVersion.DocumentsFrom.LATEST
    assert advance.requests_for("/Versions/") == []
    page = admin_client.get(reverse("admin:documents_workitemversion_change", args=[version.pk]))
    assert "may belong to a later version" in page.content.decode()
    page = admin_client.get(reverse("admin:documents_document_change", args=[stored.pk]))
    assert "may belong to a later version" in page.content.decode()


def test_a_source_set_to_the_latest_list_never_asks_for_the_versions_own(
    stack, advance, source, token_key, webhook_url, bucket, two_versions
):
    scope_set(source, SourceSync.DocumentsScope.LATEST)
    work_item, first_version, _, second = two_versions

    send(webhook_url, advance.event_payload(work_item, version_id=first_version, include_documents=False), token_key)
    [stored] = wait_until_settled(1)

    assert stored.advance_id == second.id
    assert stored.version.documents_from == WorkItemVersion.DocumentsFrom.LATEST
    assert advance.requests_for("/Versions/") == []


def test_a_version_advance_no_longer_keeps_fails_the_event_rather_than_store_another(
    stack, advance, source, token_key, webhook_url, bucket, two_versions
):
    work_item, first_version, _, _ = two_versions
    for _ in range(5):  # Advance keeps the last five versions
        advance.new_version(work_item)

    response = send(
        webhook_url, advance.event_payload(work_item, version_id=first_version, include_documents=False), token_key
    )
    delivery = wait_for(
        lambda: Delivery.objects.filter(public_id=response.json()["id"], status=Delivery.Status.FAILED).first(),
        message="the event failed",
    )

    assert "404" in delivery.last_error
    assert Document.objects.count() == 0
    assert bucket.keys() == []

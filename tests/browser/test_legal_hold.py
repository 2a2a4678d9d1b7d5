"""A legal hold put on from the work item's page in a real browser, with a reason, and lifted."""

import pytest

from documents.models import WorkItemHold
from tests.factories import document_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def held(bucket, documents) -> list[str]:
    heads = [bucket.client.head_object(Bucket=bucket.name, Key=d.storage_key) for d in documents]
    return [head.get("ObjectLockLegalHoldStatus", "OFF") for head in heads]


def test_put_a_legal_hold_with_a_reason_from_the_work_items_page_and_lift_it(
    logged_in, live_server, locked_bucket, source, screenshot
):
    documents = [
        document_make(source, work_item_name="Lease 12", version_id="v-1", content=b"first"),
        document_make(source, work_item_name="Lease 12", version_id="v-2", content=b"second"),
    ]
    work_item = documents[0].version.work_item
    page = logged_in

    page.goto(f"{live_server.url}/admin/documents/workitem/{work_item.pk}/change/")
    page.click("text=Put a legal hold")
    page.fill("#id_reason", "Litigation hold, matter 2026-117")
    screenshot(page, "legal-hold-reason")
    page.click("input[type=submit][value='Put the legal hold on']")
    page.wait_for_selector(".messagelist .success")
    screenshot(page, "legal-hold-put")

    assert "Legal hold put on 2 stored objects." in page.inner_text(".messagelist")
    assert "Litigation hold, matter 2026-117" in page.inner_text("#content-main")
    assert "Under a legal hold" in page.inner_text(".field-archive_state")
    assert held(locked_bucket, documents) == ["ON", "ON"]

    page.click("text=Lift legal hold")
    page.fill("#id_reason", "Matter settled")
    page.click("input[type=submit][value='Lift the legal hold']")
    page.wait_for_selector(".messagelist .success")

    assert held(locked_bucket, documents) == ["OFF", "OFF"]
    assert page.locator("text=Put a legal hold").count() == 1
    assert list(WorkItemHold.objects.values_list("action", "actor_name", "reason").order_by("pk")) == [
        ("hold", "operator", "Litigation hold, matter 2026-117"),
        ("release", "operator", "Matter settled"),
    ]

"""What an operator does in the admin, in a real browser: find and download a document, issue and
revoke a token, replay failed events. Each page is screenshotted into test-artifacts/."""

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from advance_sim import SimDocument, document_bytes
from documents.models import Document
from tests.factories import delivery_make, document_make
from tests.support.processes import queue_depth
from tests.support.waiting import wait_for
from webhooks.models import Delivery, WebhookToken

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
# A real PDF (the simulated Advance's), so that the preview shows a page.
PDF_BYTES = document_bytes(SimDocument(name="Lease", kind="pdf", text="Lease for Hawthorne: tenancy agreement"))


def message_text(page) -> str:
    return page.inner_text("ul.messagelist")


def test_find_open_preview_and_download_a_document(logged_in, live_server, source, bucket, screenshot):
    page = logged_in
    wanted = document_make(
        source, work_item_name="Lease for Hawthorne", work_item_id="wi-hawthorne", content=PDF_BYTES, name="Lease"
    )
    document_make(source, work_item_name="Employment contract", work_item_id="wi-jones", document_id="other")
    document_make(source, work_item_name="Lease for Hawthorne", work_item_id="wi-hawthorne", version_id="v-0",
                  document_id="older", name="Lease", completed_at=timezone.now() - timedelta(days=3))  # fmt: skip
    page.reload()
    screenshot(page, "dashboard")

    page.click("#content-main a[href$='/admin/documents/document/']")
    page.fill("#searchbar", "hawthorne")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    screenshot(page, "documents-found")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert "Employment contract" not in page.inner_text("#result_list")

    page.click(f"#result_list a[href*='/admin/documents/document/{wanted.pk}/change/']")
    page.wait_for_selector("iframe.document-preview")
    page.wait_for_timeout(1000)  # the preview frame's first paint
    screenshot(page, "document")
    # The frame shows the stored bytes for display: inline, from the document's own URL.
    preview = next(frame for frame in page.frames if "inline" in frame.url)
    assert "response-content-disposition=inline" in preview.url
    assert wanted.sha256 in page.content()
    assert "v-0" in page.inner_text(".field-other_versions")  # the older version, linked

    with page.expect_download() as download_info:
        page.click(f"a[href$='/admin/documents/document/{wanted.pk}/download/']")
    download = download_info.value
    assert download.suggested_filename == "Lease.pdf"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == PDF_BYTES


def test_issue_a_token_shown_once_then_revoke_it(logged_in, live_server, source, screenshot):
    page = logged_in
    webhook = f"{live_server.url}/webhooks/advance/"
    page.goto(f"{live_server.url}/admin/webhooks/webhooktoken/add/")
    page.fill("#id_name", "browser webhook")
    page.select_option("#id_source", str(source.pk))
    screenshot(page, "token-add")
    page.click("input[name=_save]")

    page.wait_for_selector("#token-key")
    screenshot(page, "token-key-once")
    key = page.input_value("#token-key")
    assert key.startswith("whk_")
    assert page.input_value("#authorization-header") == f"Authorization: Bearer {key}"
    assert page.input_value("#webhook-url") == webhook
    # The key authenticates: an empty event is refused for its body (400), not for its token (401).
    assert requests.post(webhook, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code == 400

    token = WebhookToken.objects.get(name="browser webhook")
    page.goto(f"{live_server.url}/admin/webhooks/webhooktoken/{token.pk}/change/")
    screenshot(page, "token-reopened")
    assert key not in page.content()
    assert token.lookup in page.content()

    page.goto(f"{live_server.url}/admin/webhooks/webhooktoken/")
    page.check(f"input[name=_selected_action][value='{token.pk}']")
    page.select_option("select[name=action]", "revoke_tokens")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    screenshot(page, "token-revoked")
    assert "Revoked 1 token." in message_text(page)
    answer = requests.post(webhook, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 401
    assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_replay_a_failed_delivery_until_its_documents_are_stored(
    logged_in, live_server, celery_worker, advance, source, bucket, screenshot
):
    page = logged_in
    document = SimDocument(name="Lease summary", kind="pdf")
    work_item = advance.add_work_item(name="Lease 12", documents=[document])
    payload = advance.event_payload(work_item, event_id="evt-replay")
    failed = delivery_make(
        source,
        status=Delivery.Status.FAILED,
        event_id="evt-replay",
        raw_body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "HotDocs-Advance"},
        attempts=1,
        last_error="Traceback (most recent call last):\nAdvanceUnavailable: Advance answered HTTP 503",
    )

    page.goto(f"{live_server.url}/admin/webhooks/delivery/?status__exact=failed")
    screenshot(page, "failed-deliveries")
    page.click(f"#result_list a[href*='/admin/webhooks/delivery/{failed.pk}/change/']")
    screenshot(page, "failed-delivery")
    assert '"eventId": "evt-replay"' in page.inner_text(".field-body_text")  # pretty-printed payload

    page.go_back()
    page.check(f"input[name=_selected_action][value='{failed.pk}']")
    page.select_option("select[name=action]", "replay_deliveries")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    assert "Queued 1 event again." in message_text(page)

    def processed() -> bool:
        delivery = Delivery.objects.get(pk=failed.pk)
        stored = Document.objects.filter(status=Document.Status.STORED).count()
        return delivery.status == Delivery.Status.PROCESSED and stored == 1

    wait_for(processed, timeout=60, message="the replayed event to be processed")
    page.goto(f"{live_server.url}/admin/webhooks/delivery/{failed.pk}/change/")
    screenshot(page, "replayed-delivery")
    assert "Processed" in page.inner_text(".field-status_badge")
    stored = Document.objects.get()
    assert bucket.get(stored.storage_key)["Body"].read() == document_bytes(document)


def test_replay_failed_events_since_a_time(logged_in, live_server, source, screenshot):
    page = logged_in
    for number in range(3):
        delivery_make(source, status=Delivery.Status.FAILED, event_id=f"late-{number}", age=timedelta(hours=number + 1))
    delivery_make(source, status=Delivery.Status.FAILED, event_id="early", age=timedelta(days=5))

    page.goto(f"{live_server.url}/admin/webhooks/delivery/")
    page.click("#replay-failed-since")
    since = timezone.localtime(timezone.now() - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_since", since)
    page.click("input[name=_preview]")
    page.wait_for_selector("#replay-count")
    screenshot(page, "replay-failed-since")
    assert page.inner_text("#replay-count") == "3 failed events since then"

    page.click("input[name=_replay]")
    page.wait_for_selector("ul.messagelist")
    screenshot(page, "replayed-since")
    assert "Queued 3 failed events received since" in message_text(page)
    # Queued again: accepted, their messages in the broker for a worker (none runs beside this test).
    late = Delivery.objects.filter(event_id__startswith="late-")
    assert [(d.status, d.attempts) for d in late] == [(Delivery.Status.ACCEPTED, 0)] * 3
    assert queue_depth("intake") == 3
    early = Delivery.objects.get(event_id="early")
    assert (early.status, early.attempts) == (Delivery.Status.FAILED, 0)

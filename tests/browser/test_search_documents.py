"""Full-text search in a real browser: a .docx and a .pdf sent by the simulated Advance, synced and
extracted by a real worker, found in the Documents list by a phrase from their text."""

import json

import pytest
import requests

from advance_sim import SimDocument
from documents.models import Document, DocumentText
from tests.support.search_files import docx_bytes, pdf_bytes
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_search_the_documents_text_and_read_it_on_the_documents_page(
    logged_in, live_server, celery_worker, bucket, advance, token_key, screenshot
):
    contract = SimDocument(
        id="contract",
        name="Supply contract",
        kind="docx",
        body=docx_bytes(paragraph="Cornelius Featherstonehaugh agrees to deliver forty crates of saffron."),
    )
    invoice = SimDocument(id="invoice", name="Invoice", kind="pdf", body=pdf_bytes("Invoice for ninety bales of wool"))
    work_item = advance.add_work_item(name="Spice trade", documents=[contract, invoice])
    response = requests.post(
        f"{live_server.url}/webhooks/advance/",
        data=json.dumps(advance.event_payload(work_item)),
        headers={"Authorization": f"Bearer {token_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202
    wait_for(
        lambda: DocumentText.objects.filter(status=DocumentText.Status.EXTRACTED).count() == 2,
        timeout=90,
        message="both documents' text extracted",
    )

    page = logged_in
    page.goto(f"{live_server.url}/admin/documents/document/")
    page.fill("#searchbar", '"crates of saffron"')
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    screenshot(page, "documents-found-by-text", docs_name="search.png")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Supply contract" in rows.first.inner_text()
    assert page.locator("#result_list td.field-passage mark").first.inner_text().lower() in ("crates", "saffron")

    page.fill("#searchbar", "wool")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "Invoice" in page.inner_text("#result_list")

    document = Document.objects.get(advance_id="contract")
    page.goto(f"{live_server.url}/admin/documents/document/{document.pk}/change/")
    text = page.inner_text(".field-text_extracted")
    screenshot(page, "document-text")
    assert "Cornelius Featherstonehaugh agrees to deliver forty crates of saffron." in text
    assert "Extracted" in page.inner_text(".field-text_outcome")

"""The access audit in a real browser: open a document, then find that access in the audit list,
from the document's own page and from Audit → Access records."""

import pytest

from audit.models import AccessRecord
from tests.factories import PDF_BYTES, document_make

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_document_opened_is_found_in_the_access_audit(logged_in, live_server, source, filesystem_storage, screenshot):
    document = document_make(source, content=PDF_BYTES, name="Lease of the mill", work_item_name="Mill lease")
    page = logged_in

    page.goto(f"{live_server.url}/admin/documents/document/")
    page.click("#result_list a:text('Lease of the mill')")
    page.wait_for_selector(".field-recent_accesses")
    screenshot(page, "document-page")
    # The page's own view is already among its recent accesses (recorded before the page was drawn).
    assert "operator" in page.inner_text(".field-recent_accesses")

    page.click("a:text('All accesses to this document')")
    page.wait_for_selector("#result_list")
    screenshot(page, "accesses-of-the-document")
    rows = page.locator("#result_list tbody tr")
    texts = [rows.nth(n).inner_text() for n in range(rows.count())]
    views = [text for text in texts if "Document page" in text]
    assert len(views) >= 1  # the page's view, and the preview frame's inline download
    assert "operator" in views[0] and "127.0.0.1" in views[0] and "Lease of the mill" in views[0]

    page.goto(f"{live_server.url}/admin/audit/accessrecord/?action__exact=view")
    page.wait_for_selector("#result_list")
    screenshot(page, "access-records")
    assert "Lease of the mill" in page.inner_text("#result_list")
    record = AccessRecord.objects.filter(action="view").get()
    assert (record.username, record.document_id, record.status) == ("operator", document.pk, 200)
    assert AccessRecord.objects.filter(action="preview", document_id=document.pk).count() == 1

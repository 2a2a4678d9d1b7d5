"""Access by source in a real browser: a staff user granted one source (by the command, as an
operator's script does) logs in through the form, sees that source's documents only, and finds
another source's document as if it did not exist (a 404 page for its download, the admin's
"doesn't exist" for its page)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.factories import PDF_BYTES, document_make, source_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PASSWORD = "clerk-browser-password-7d2a"


def test_a_granted_user_sees_only_their_sources_documents(page, live_server, filesystem_storage, screenshot):
    acme, globex = source_make("acme", name="Acme"), source_make("globex", name="Globex")
    document_make(acme, work_item_name="Acme lease", name="Acme lease", content=PDF_BYTES)
    theirs = document_make(globex, work_item_name="Globex merger", name="Globex merger", content=PDF_BYTES)
    get_user_model().objects.create_user("clerk", password=PASSWORD, is_staff=True)
    call_command("source_access_grant", "acme", "--user", "clerk", "--level", "download")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#operator-dashboard")
    screenshot(page, "dashboard")
    assert page.inner_text('[data-figure="synced-today"]') == "1"
    assert "Globex" not in page.content()

    page.click("#content-main a[href$='/admin/documents/document/']")
    page.wait_for_selector("#result_list")
    screenshot(page, "documents")
    listed = page.inner_text("#result_list")
    assert "Acme lease" in listed and "Globex" not in listed
    assert "Globex" not in page.inner_text("#changelist-filter")  # the filter by source offers Acme only

    response = page.goto(f"{live_server.url}/admin/documents/document/{theirs.pk}/download/")
    screenshot(page, "other-download")
    assert response.status == 404
    assert "Globex" not in page.content()

    page.goto(f"{live_server.url}/admin/documents/document/{theirs.pk}/change/")
    screenshot(page, "other-document")
    assert page.url == f"{live_server.url}/admin/"
    assert f"Document with ID “{theirs.pk}” doesn’t exist" in page.inner_text("ul.messagelist")
    assert "Globex" not in page.content()

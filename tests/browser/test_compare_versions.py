"""Comparing versions in a real browser: a lease renegotiated (.docx) and its schedule (.pdf),
extracted as the search extracts them; the work item's page leads to the comparison, whose
redline reads the edits, and whose folds open. Its screenshot is the README's (docs/screenshots/compare.png)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from documents.models import DocumentText
from documents.search.services import document_text_extract
from tests.factories import document_make
from tests.support.search_files import DOCX_TYPE, docx_paragraphs_bytes, pdf_lines_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE = [
    "Lease of 12 Hawthorne Road, London",
    "This lease is made between Hawthorne Estates Limited (the landlord) and Jane Smith (the tenant).",
    "1. The landlord lets the flat to the tenant for a term of two years from 1 January 2027.",
    "2. The rent is 1,200 pounds a month, payable in advance on the first day of each month.",
    "3. The tenant pays a deposit of 1,800 pounds, held in a government-approved scheme.",
    "4. The tenant keeps the flat clean and the garden tidy.",
    "5. The tenant may not keep pets without the landlord's written consent.",
    "6. The landlord insures the building and repairs its structure and exterior.",
    "7. Either party may end this lease with two months' written notice after the first year.",
    "Signed by the landlord and the tenant.",
]
RENEGOTIATED = {
    2: "1. The landlord lets the flat to the tenant for a term of three years from 1 January 2027.",
    3: "2. The rent is 1,250 pounds a month, payable in advance on the first day of each month.",
    6: "5. The tenant may keep one cat; other pets need the landlord's written consent.",
}


def lease_versions(source):
    now = timezone.now()
    renegotiated = [RENEGOTIATED.get(index, paragraph) for index, paragraph in enumerate(LEASE)]
    made = []
    for version, when, lease, schedule in (
        ("v1", now - timedelta(days=20), LEASE, ["Schedule of contents", "Sofa, grey", "Table, oak"]),
        ("v2", now - timedelta(days=2), renegotiated, ["Schedule of contents", "Sofa, grey", "Table, walnut"]),
    ):
        common = {"work_item_name": "Lease – 12 Hawthorne Road", "version_id": version, "completed_at": when}
        made += [
            document_make(
                source,
                document_id="lease",
                name="Lease",
                content=docx_paragraphs_bytes(lease),
                content_type=DOCX_TYPE,
                extension="docx",
                **common,
            ),
            document_make(source, document_id="schedule", name="Schedule", content=pdf_lines_bytes(schedule), **common),
        ]
    for document in made:
        assert document_text_extract(document_id=document.pk) == DocumentText.Status.EXTRACTED
    return made[-1].version.work_item


def test_a_comparison_opened_from_the_work_item_reads_the_redline(logged_in, live_server, source, bucket, screenshot):
    work_item = lease_versions(source)
    page = logged_in

    page.goto(f"{live_server.url}/admin/documents/workitem/{work_item.pk}/change/")
    page.click("a.compare-versions-link")
    page.wait_for_selector(".redline")
    screenshot(page, "comparison", docs_name="compare.png", full_page=False)

    lease = page.locator(".pair").first
    assert "Lease" in lease.locator("h2").inner_text()
    assert (
        lease.locator(".summary").inner_text()
        == "3 paragraphs changed, 6 words added, 4 words removed, 1 punctuation mark added, 0 removed."
    )
    assert lease.locator("del").all_inner_texts() == ["two", "1,200", "not", "without"]
    assert lease.locator("ins").all_inner_texts() == ["three", "1,250", "one cat; other", "need"]
    changed = lease.locator("p.changed").first.inner_text()
    assert changed == "1. The landlord lets the flat to the tenant for a term of two three years from 1 January 2027."
    fold = lease.locator("details.fold").nth(1)
    assert fold.locator("summary").inner_text() == "2 unchanged paragraphs"
    assert not fold.locator("p").first.is_visible()
    fold.locator("summary").click()
    assert fold.locator("p").first.inner_text().startswith("3. The tenant pays a deposit")

    schedule = page.locator(".pair").nth(1)
    assert schedule.locator("del").all_inner_texts() == ["oak"]
    assert schedule.locator("ins").all_inner_texts() == ["walnut"]

    href = page.locator("a.compare-text-link").get_attribute("href")
    export = page.request.get(f"{live_server.url}{href}")
    assert export.status == 200
    assert "-2. The rent is 1,200 pounds a month, payable in advance on the first day of each month.\n" in export.text()
    assert "+2. The rent is 1,250 pounds a month, payable in advance on the first day of each month.\n" in export.text()

"""The README's screenshots: the dashboard and the documents list over a month of realistic data.

Run with DOCS_SCREENSHOTS=1 to write docs/screenshots/ again; otherwise they go to
test-artifacts/ like every other screenshot. Either way the pages are checked.
"""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from documents.models import Document
from tests.factories import document_make, source_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WORK_ITEMS = [
    ("Lease – 12 Hawthorne Road", ["Lease", "Lease summary"]),
    ("Employment contract – J. Smith", ["Contract", "Offer letter"]),
    ("NDA – Globex and Initech", ["Mutual NDA"]),
    ("Will – M. Okafor", ["Will", "Letter of wishes"]),
    ("Share purchase agreement", ["SPA", "Disclosure letter", "Completion checklist"]),
    ("Power of attorney – R. Patel", ["Lasting power of attorney"]),
    ("Tenancy renewal – Flat 4B", ["Renewal agreement"]),
    ("Consultancy agreement – Q3", ["Agreement", "Schedule A"]),
]
LOGINS = ["john.smith@example.com", "ann.lee@example.com", "r.patel@example.com"]


def month_of_documents(acme, globex) -> None:
    now = timezone.now()
    number = 0
    for day in range(30):
        for slot in range(1 + (day * 7) % 4):
            name, documents = WORK_ITEMS[(day + slot) % len(WORK_ITEMS)]
            source = globex if (day + slot) % 3 == 0 else acme
            when = now - timedelta(days=day, hours=slot * 2 + 1)
            for index, document_name in enumerate(documents):
                number += 1
                pdf = index % 2 == 1
                document_make(
                    source,
                    work_item_name=name,
                    work_item_id=f"wi-{(day + slot) % len(WORK_ITEMS)}-{source.slug}",
                    version_id=f"v-{day}-{slot}",
                    document_id=f"d-{number}",
                    name=document_name,
                    content_type="application/pdf" if pdf else DOCX,
                    extension="pdf" if pdf else "docx",
                    size=18_000 + (number * 7919) % 400_000,
                    synced_at=when,
                    completed_at=when,
                    login=LOGINS[number % len(LOGINS)],
                )
    # Recorded when they were synced, as the sync would have: the list shows the newest first.
    Document.objects.filter(synced_at__isnull=False).update(created_at=F("synced_at"))
    failures = [
        (Document.Status.FAILED, "Advance answered HTTP 404", 0),
        (Document.Status.DEAD, "gave up after 9 attempts: Advance answered HTTP 503", 1),
        (Document.Status.FAILED, "refused URL of another origin than the source's API: https://files.example", 4),
    ]
    for index, (status, error, days_ago) in enumerate(failures):
        document = document_make(
            acme, work_item_name=WORK_ITEMS[index][0], work_item_id=f"wi-f{index}", version_id=f"v-f{index}",
            document_id=f"f-{index}", name="Annex", status=status, last_error=error, attempts=3,
        )  # fmt: skip
        Document.objects.filter(pk=document.pk).update(updated_at=now - timedelta(days=days_ago, hours=1))
    for index in range(3):
        pending = document_make(
            globex, work_item_name="Board minutes – March", work_item_id="wi-p", version_id="v-p",
            document_id=f"p-{index}", name=f"Minutes part {index + 1}", status=Document.Status.PENDING,
        )  # fmt: skip
        Document.objects.filter(pk=pending.pk).update(created_at=now - timedelta(minutes=4 + index))


@pytest.fixture
def globex(transactional_db):
    return source_make(
        "globex",
        name="Globex Corporation",
        api_base_url="https://globex.hotdocsadvance.com/api/rest/v1.1",
        auth_base_url="https://globex.hotdocsadvance.com/auth",
        principal_password="not-used",
    )


def test_dashboard_and_documents_list(logged_in, live_server, source, globex, screenshot):
    page = logged_in
    month_of_documents(source, globex)
    page.set_viewport_size({"width": 1280, "height": 1010})

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#operator-dashboard svg")
    screenshot(page, "dashboard", docs_name="dashboard.png", full_page=False)
    assert page.inner_text("[data-figure=failed]") == "2"
    assert page.locator("#operator-dashboard svg rect").count() > 30

    # The navigation sidebar folded away (as the admin remembers it): more room for the columns.
    page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page.goto(f"{live_server.url}/admin/documents/document/")
    page.wait_for_selector("#result_list")
    screenshot(page, "documents-list", docs_name="documents-list.png", full_page=False)
    assert page.locator("#result_list tbody tr").count() == 100  # the first page

"""The Content-Security-Policy, in a real browser: every page of an operator's round (the log-in,
the dashboard and its chart, a searched document list, documents' pages with their previews from
S3, a source's page and its copy buttons, a token's key page) and the API description pages
(Swagger UI and Redoc) load under it with no violation, and each answer carries the header."""

import pytest
from playwright.sync_api import expect

from advance_sim import SimDocument, document_bytes
from documents.models import DocumentText
from tests.factories import PNG_BYTES, document_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PDF_BYTES = document_bytes(SimDocument(name="Lease", kind="pdf", text="Lease for Hawthorne: tenancy agreement"))
# Registered before any page script runs: every violation the page reports lands here.
WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI} (${where})`);
});
"""


class Watch:
    """Every answer's header, and every violation: reported to the page, or said on the console
    (a worker's, or one reported before the page could listen)."""

    def __init__(self, page, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.console: list[str] = []
        self.unprotected: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def _response(self, response) -> None:
        # Every page of ours, frames and redirects included; not S3's.
        ours = response.request.resource_type == "document" and response.url.startswith(self.origin)
        if ours and "content-security-policy" not in response.headers:
            self.unprotected.append(response.url)

    def violations(self) -> list[str]:
        return [*self.page.evaluate("window.cspViolations || []"), *self.console]


@pytest.fixture
def watch(page, live_server) -> Watch:
    return Watch(page, live_server.url)


def visit(watch: Watch, url: str, ready: str) -> list[str]:
    response = watch.page.goto(url)
    assert "content-security-policy" in response.headers, url
    watch.page.wait_for_selector(ready)
    watch.page.wait_for_load_state("load")
    watch.page.wait_for_timeout(500)  # what the page's scripts load after it
    return watch.violations()


def test_the_admins_pages_load_under_the_policy_with_no_violation(
    watch, logged_in, live_server, source, bucket, screenshot
):
    page = logged_in
    admin = f"{live_server.url}/admin"
    contract = document_make(source, work_item_name="Spice trade", name="Supply contract", content=PDF_BYTES)
    image = document_make(
        source, document_id="scan", name="Scan", content=PNG_BYTES, content_type="image/png", extension="png"
    )
    DocumentText.objects.create(
        document=contract, status=DocumentText.Status.EXTRACTED, text="forty crates of saffron", config="english"
    )
    failures = {}

    failures["dashboard"] = visit(watch, f"{admin}/", "#operator-dashboard .chart svg")
    screenshot(page, "dashboard")
    failures["search"] = visit(watch, f"{admin}/documents/document/?q=spice", "#result_list")
    assert page.locator("#result_list tbody tr").count() == 2
    failures["pdf page"] = visit(watch, f"{admin}/documents/document/{contract.pk}/change/", "iframe.document-preview")
    failures["image page"] = visit(watch, f"{admin}/documents/document/{image.pk}/change/", "img.document-preview")
    shown = page.locator("img.document-preview").evaluate("image => image.complete && image.naturalWidth > 0")
    screenshot(page, "image-preview")
    failures["source page"] = visit(watch, f"{admin}/sources/source/{source.pk}/change/", "[data-copy]")
    page.click("[data-copy=registration-url-0]")
    expect(page.locator("[data-copy=registration-url-0]")).not_to_have_text("Copy")
    failures["replay failed"] = visit(watch, f"{admin}/webhooks/delivery/replay-failed/", "#id_since")
    failures["token add"] = visit(watch, f"{admin}/webhooks/webhooktoken/add/", "#id_name")
    page.fill("#id_name", "browser webhook")
    page.select_option("#id_source", str(source.pk))
    page.click("input[name=_save]")
    page.wait_for_selector("[data-copy]")
    failures["token key"] = watch.violations()

    assert {name: found for name, found in failures.items() if found} == {}
    assert shown  # the preview followed its redirect to S3
    assert watch.unprotected == []


def test_the_api_description_pages_load_under_their_policy_with_no_violation(watch, live_server, screenshot):
    page = watch.page

    swagger = visit(watch, f"{live_server.url}/api/docs/", ".swagger-ui .info .title")
    screenshot(page, "swagger-ui")
    redoc = visit(watch, f"{live_server.url}/api/redoc/", "[role=search], .api-content")
    screenshot(page, "redoc")

    assert (swagger, redoc) == ([], [])
    assert "advance-sync webhook API" in page.inner_text("body")

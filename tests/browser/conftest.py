"""Playwright (from PyPI) driving Debian's chromium against `live_server`.

Never `playwright install`: it downloads a browser of its own, which this project does not use.
Screenshots of every page go to test-artifacts/screenshots/ (gitignored); with
DOCS_SCREENSHOTS=1 the README's screenshots in docs/screenshots/ are written again too.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.support.processes import BASE_DIR
from tests.support.required import service_missing

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = BASE_DIR / "test-artifacts" / "screenshots"
DOCS_SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
PASSWORD = "browser-test-password"


@pytest.fixture(scope="session", autouse=True)
def _database_before_the_browser(django_db_setup):
    """The test database is made before Playwright starts its event loop in this thread (Django
    refuses to set it up under a running loop): `make screenshots` runs these tests alone."""


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright():
    # Playwright's sync API runs an event loop in this thread; the tests' ORM calls are still plain
    # synchronous calls. Set for this package only, so that it never leaks into the rest of the suite.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not Path(CHROMIUM).exists():
        service_missing(f"Debian's chromium ({CHROMIUM})")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "accept_downloads": True}


@pytest.fixture
def screenshot(request):
    """screenshot(page, "name"): the whole page as test-artifacts/screenshots/<test>--<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = request.node.originalname.removeprefix("test_")

    def take(page, name: str, *, docs_name: str | None = None, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{test}--{name}.png"
        page.wait_for_load_state("load")
        page.screenshot(path=str(path), full_page=full_page)
        if docs_name and os.environ.get("DOCS_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / docs_name)
        return path

    return take


@pytest.fixture
def operator(transactional_db):
    return get_user_model().objects.create_superuser("operator", "operator@example.com", PASSWORD)


@pytest.fixture
def logged_in(page, live_server, operator, screenshot):
    """A page logged in to the admin as a superuser, through the log-in form."""
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    screenshot(page, "login")
    page.click("input[type=submit]")
    page.wait_for_selector("#operator-dashboard, #content-main")
    return page

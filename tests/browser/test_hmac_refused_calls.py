"""In a real browser: the source's page lists what to enter in Advance with working copy buttons,
and a call refused by a wrong HMAC scheme is accepted by clicking "Adopt this scheme"."""

import re

import pytest
import requests
from playwright.sync_api import expect

from advance_sim import form_webhook_build
from sources.services import source_save
from webhooks.models import Delivery
from webhooks.services import source_hmac_configure, source_hmac_secret_set

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "browser-hmac-secret"


def test_an_operator_adopts_the_scheme_that_matches_a_refused_call(logged_in, live_server, screenshot):
    page = logged_in
    source, _ = source_save(
        slug="acme",
        api_base_url="https://acme.example.com/api/rest/v1.1",
        auth_base_url="https://acme.example.com/auth",
        client_name="c",
        principal_name="p",
        principal_password="pw",
    )
    source_hmac_configure(source=source, signed_material="body")
    source_hmac_secret_set(source=source, secret=SECRET)
    event = {
        "eventId": "browser-1",
        "eventType": "NewWorkItemVersionComplete",
        "data": {"workItemId": "wi-1", "workItemVersionId": "v-1", "documents": []},
    }
    body, content_type = form_webhook_build(event, secret=SECRET)
    refused = requests.post(
        f"{live_server.url}/webhooks/advance/acme/", data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert refused.status_code == 401

    page.goto(f"{live_server.url}/admin/sources/source/{source.pk}/change/")
    assert (
        page.locator("#registration-url-0").input_value().endswith("/webhooks/advance/acme/NewWorkItemVersionComplete/")
    )
    page.click("[data-copy=registration-url-0]")
    # The clipboard answers asynchronously: wait for the button to say what happened.
    expect(page.locator("[data-copy=registration-url-0]")).to_have_text(re.compile("^(Copied|Press Ctrl-C)$"))
    screenshot(page, "source-registrations")

    delivery = Delivery.objects.get(http_status=401)
    page.goto(f"{live_server.url}/admin/webhooks/delivery/{delivery.pk}/change/")
    screenshot(page, "refused-call-schemes")
    option = page.locator("li", has_text="HMAC-SHA256 of body-without-token, base64, in the token field").first
    option.locator("button", has_text="Adopt this scheme").click()
    page.wait_for_selector(".messagelist")
    screenshot(page, "scheme-adopted")

    assert "1 accepted, 0 still refused" in page.locator(".messagelist").inner_text()
    source.refresh_from_db()
    assert source.hmac_signed_material == "body-without-token"
    assert Delivery.objects.filter(event_id="browser-1", status=Delivery.Status.ACCEPTED).count() == 1

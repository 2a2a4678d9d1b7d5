"""The source form's HMAC settings: write-only secrets, two at a time, through real admin requests."""

import base64
import hashlib
import hmac
import logging
import re
from urllib.parse import quote

import pytest
from django.urls import reverse

from sources.models import Source
from tests.factories import source_form_data, token_inline_management
from webhooks.models import Delivery
from webhooks.services import source_hmac_configure, source_hmac_secret_set

SECRET_1 = "advance-generated-secret-one"
SECRET_2 = "advance-generated-secret-two"


def hmac_form_data(source: Source | None = None, **overrides) -> dict:
    data = source_form_data(
        auth_method="hmac",
        hmac_algorithm="sha256",
        hmac_encoding="base64",
        hmac_signed_material="body",
        hmac_code_location="form",
        hmac_header_name="",
        hmac_prefix="",
        hmac_timestamp_header="webhook-timestamp",
        hmac_tolerance_seconds="300",
        hmac_keep_previous="on",
    )
    if source is not None:
        data.update(
            slug=source.slug,
            api_base_url=source.api_base_url,
            auth_base_url=source.auth_base_url,
            principal_password="",
            **token_inline_management(source),
        )
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_an_hmac_source_is_added_with_its_secret_encrypted(admin_client):
    response = admin_client.post(reverse("admin:sources_source_add"), hmac_form_data(hmac_secret=SECRET_1))

    assert response.status_code == 302, response.context["adminform"].form.errors
    source = Source.objects.get(slug="globex")
    assert source.auth_method == Source.AuthMethod.HMAC
    assert SECRET_1 not in source.hmac_secret_encrypted
    assert source.hmac_secrets == [SECRET_1]


@pytest.mark.django_db
def test_hmac_without_a_secret_is_refused(admin_client):
    response = admin_client.post(reverse("admin:sources_source_add"), hmac_form_data())

    assert response.status_code == 200
    assert "hmac_secret" in response.context["adminform"].form.errors
    assert not Source.objects.exists()


@pytest.mark.django_db
def test_a_header_location_needs_a_header_name(admin_client):
    data = hmac_form_data(hmac_secret=SECRET_1, hmac_code_location="header")

    response = admin_client.post(reverse("admin:sources_source_add"), data)

    assert response.status_code == 200
    assert "hmac_header_name" in response.context["adminform"].form.errors


@pytest.mark.django_db
def test_a_new_secret_keeps_the_old_one_until_dropped_and_neither_is_ever_shown(admin_client):
    admin_client.post(reverse("admin:sources_source_add"), hmac_form_data(hmac_secret=SECRET_1))
    source = Source.objects.get(slug="globex")
    url = reverse("admin:sources_source_change", args=[source.pk])

    response = admin_client.post(url, hmac_form_data(source, hmac_secret=SECRET_2))
    assert response.status_code == 302, response.context["adminform"].form.errors
    source.refresh_from_db()
    assert source.hmac_secrets == [SECRET_2, SECRET_1]

    page = admin_client.get(url).content.decode()
    assert SECRET_1 not in page and SECRET_2 not in page
    assert source.hmac_secret_encrypted not in page
    assert "the previous one is still accepted" in page

    response = admin_client.post(url, hmac_form_data(source, hmac_drop_previous="on"))
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.hmac_secrets == [SECRET_2]


@pytest.mark.django_db
def test_a_new_secret_without_keeping_the_previous_replaces_it_at_once(admin_client):
    admin_client.post(reverse("admin:sources_source_add"), hmac_form_data(hmac_secret=SECRET_1))
    source = Source.objects.get(slug="globex")
    data = hmac_form_data(source, hmac_secret=SECRET_2)
    del data["hmac_keep_previous"]

    admin_client.post(reverse("admin:sources_source_change", args=[source.pk]), data)

    source.refresh_from_db()
    assert source.hmac_secrets == [SECRET_2]


@pytest.mark.django_db
def test_hmac_changes_in_the_admin_go_through_the_services_and_their_log_lines(admin_client, caplog):
    caplog.set_level(logging.INFO, logger="webhooks.services.source_auth")
    admin_client.post(reverse("admin:sources_source_add"), hmac_form_data(hmac_secret=SECRET_1))
    source = Source.objects.get(slug="globex")
    assert "source authenticates by hmac: source=globex" in caplog.text
    assert "hmac secret set: source=globex previous_kept=True" in caplog.text

    caplog.clear()
    url = reverse("admin:sources_source_change", args=[source.pk])
    admin_client.post(url, hmac_form_data(source, hmac_secret=SECRET_2))
    admin_client.post(url, hmac_form_data(source, hmac_drop_previous="on"))

    assert "hmac secret set: source=globex previous_kept=True" in caplog.text
    assert "previous hmac secret dropped: source=globex" in caplog.text
    source.refresh_from_db()
    assert source.hmac_secrets == [SECRET_2]
    assert SECRET_1 not in caplog.text and SECRET_2 not in caplog.text


@pytest.mark.django_db
def test_an_hmac_source_page_shows_its_own_webhook_url(admin_client):
    admin_client.post(reverse("admin:sources_source_add"), hmac_form_data(hmac_secret=SECRET_1))
    source = Source.objects.get(slug="globex")

    page = admin_client.get(reverse("admin:sources_source_change", args=[source.pk])).content.decode()

    assert "http://testserver/webhooks/advance/globex/" in page
    assert "authenticates by HMAC" in page


@pytest.mark.django_db
@pytest.mark.parametrize(("material", "static"), [("body", True), ("timestamp.body", False)])
def test_the_source_page_says_plainly_when_its_code_is_static(admin_client, source, material, static):
    source_hmac_configure(source=source, signed_material=material)
    source_hmac_secret_set(source=source, secret=SECRET_1)

    page = admin_client.get(reverse("admin:sources_source_change", args=[source.pk])).content.decode()

    assert ("its code is static" in page) is static


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["token", "hmac"])
def test_the_source_page_lists_what_to_enter_in_advance_for_each_event_type(admin_client, source, method):
    if method == "hmac":
        source_hmac_configure(source=source)
        source_hmac_secret_set(source=source, secret=SECRET_1)

    page = admin_client.get(reverse("admin:sources_source_change", args=[source.pk])).content.decode()

    for number, path in enumerate(
        [
            "/webhooks/advance/acme/NewWorkItemVersionComplete/",
            "/webhooks/advance/acme/PostProcessingEvent/",
            "/webhooks/advance/acme/InterviewLoadEvent/",
            "/webhooks/advance/acme/CustomInterviewEvent/&lt;eventName&gt;/",
        ]
    ):
        assert f'id="registration-url-{number}" value="http://testserver{path}"' in page
        assert f'data-copy="registration-url-{number}"' in page
    expected = "HMAC (Advance&#x27;s default)" if method == "hmac" else "Access token: a webhook token of this source"
    assert page.count(expected) == 4
    assert (
        "webhooks/copy_buttons.js" in page
    )  # the copy-button script, a file of ours (the CSP allows no inline script)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "kept"),
    [(b"data%5B%C2%B2%5D=1", True), (b"data=" + quote('{"a":' * 600 + "1" + "}" * 600).encode(), False)],
    ids=["superscript-index", "deep-json-field"],
)
def test_rechecking_a_call_whose_form_breaks_the_parser_leaves_it_refused(admin_client, source, field, kept):
    # Refused as hex, then the source is set to base64: the call now authenticates. A form too deep
    # to read as an event is not even kept (services.refusals.refusal_worth_keeping).
    source_hmac_configure(source=source, signed_material="body", code_location="form", encoding="hex")
    source_hmac_secret_set(source=source, secret=SECRET_1)
    body = b"eventId=e-1&eventType=NewWorkItemVersionComplete&" + field
    code = base64.b64encode(hmac.new(SECRET_1.encode(), body, hashlib.sha256).digest()).decode()
    refused = admin_client.post(
        f"/webhooks/advance/{source.slug}/?token={quote(code, safe='')}",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert refused.status_code == 401
    assert Delivery.objects.exclude(credentials_encrypted="").count() == int(kept)
    source_hmac_configure(source=source, encoding="base64")

    answer = admin_client.post(
        reverse("admin:sources_source_changelist"),
        {"action": "recheck_refused", "_selected_action": [source.pk]},
        follow=True,
    )

    assert answer.status_code == 200
    assert f"0 accepted, {int(kept)} still refused" in answer.content.decode()
    assert not Delivery.objects.exclude(status=Delivery.Status.REJECTED).exists()


def refused_call_page(admin_client, source, body: bytes, **headers: str) -> str:
    refused = admin_client.post(
        f"/webhooks/advance/{source.slug}/", data=body, content_type="application/json", **headers
    )
    assert refused.status_code == 401
    delivery = Delivery.objects.filter(status=Delivery.Status.REJECTED).exclude(credentials_encrypted="").get()
    return admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()


@pytest.mark.django_db
def test_the_schemes_of_a_refused_call_are_looked_for_only_where_a_code_travels(admin_client, source):
    source_hmac_configure(
        source=source, signed_material="body", code_location="header", header_name="X-Advance-Code", encoding="hex"
    )
    source_hmac_secret_set(source=source, secret=SECRET_1)
    body = b'{"eventId": "e-1", "eventType": "NewWorkItemVersionComplete"}'
    code = base64.b64encode(hmac.new(SECRET_1.encode(), body, hashlib.sha256).digest()).decode()

    # The code in the source's own header (as base64, not the configured hex), and in headers of
    # no scheme: an unauthenticated caller must not make the page try each header it sends.
    page = refused_call_page(admin_client, source, body, HTTP_X_ADVANCE_CODE=code, HTTP_X_OTHER_DIGEST=code)

    offered = re.findall(r"<li[^>]*>([^<]*) <button[^>]*>Adopt this scheme", page)
    assert not [scheme for scheme in offered if "other-digest" in scheme.lower()], offered
    assert "HMAC-SHA256 of body, base64, in header X-Advance-Code" in offered


@pytest.mark.django_db
def test_the_schemes_of_a_refused_call_over_256_kib_are_not_searched_and_the_page_says_so(admin_client, source):
    source_hmac_configure(source=source, signed_material="body", code_location="form", encoding="hex")
    source_hmac_secret_set(source=source, secret=SECRET_1)
    body = b'{"eventId": "e-1", "eventType": "NewWorkItemVersionComplete", "pad": "' + b"x" * 300_000 + b'"}'
    code = base64.b64encode(hmac.new(SECRET_1.encode(), body, hashlib.sha256).digest()).decode()

    page = refused_call_page(admin_client, source, body, HTTP_AUTHORIZATION=code)

    assert "Not searched: the call&#x27;s body is over 256 KiB." in page
    assert "Adopt this scheme" not in page


@pytest.mark.django_db
def test_a_user_who_may_not_change_sources_sees_the_matching_schemes_without_buttons_to_adopt_them(
    admin_client, client, django_user_model, source
):
    from django.contrib.auth.models import Permission

    source_hmac_configure(
        source=source, signed_material="body", code_location="header", header_name="X-Code", encoding="base64"
    )
    source_hmac_secret_set(source=source, secret=SECRET_1)
    body = b'{"eventId": "e-1", "eventType": "NewWorkItemVersionComplete"}'
    code = hmac.new(SECRET_1.encode(), body, hashlib.sha256).hexdigest()
    owner_page = refused_call_page(admin_client, source, body, HTTP_X_CODE=code)
    reader = django_user_model.objects.create_user("reader", password="pw", is_staff=True)
    reader.user_permissions.set(Permission.objects.filter(codename="view_delivery"))
    client.force_login(reader)
    delivery = Delivery.objects.exclude(credentials_encrypted="").get()

    page = client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()

    described = "HMAC-SHA256 of body, hex, in header X-Code"
    assert described in owner_page and "Adopt this scheme" in owner_page
    assert described in page
    assert "Adopt this scheme" not in page

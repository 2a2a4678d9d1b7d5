"""The admin of sources, webhook tokens and the delivery log, through real admin requests."""

import hashlib
import io
import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from sources.models import Source
from tests.factories import KEY_PATTERN, SOURCE_PASSWORD, source_form_data, token_inline_management
from webhooks.models import Delivery, WebhookToken
from webhooks.services import token_authenticate, token_issue, token_revoke


def token_add(admin_client, source: Source, name: str = "production webhook"):
    return admin_client.post(
        reverse("admin:webhooks_webhooktoken_add"),
        {"name": name, "source": source.pk, "expires_at_0": "", "expires_at_1": ""},
    )


@pytest.fixture
def failed_delivery(source: Source) -> Delivery:
    body = {"eventId": "evt-42", "eventType": "NewWorkItemVersionComplete", "data": {"workItemId": "wi-1"}}
    return Delivery.objects.create(
        source=source,
        event_id="evt-42",
        event_type="NewWorkItemVersionComplete",
        status=Delivery.Status.FAILED,
        http_status=202,
        raw_body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "HotDocs-Advance"},
        attempts=1,
        last_error="Traceback (most recent call last):\nValueError: <boom>",
    )


# Tokens ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_adding_a_token_shows_its_key_once_and_stores_only_the_digest(admin_client, source):
    response = token_add(admin_client, source)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/webhooks/webhooktoken/key_once.html"
    page = response.content.decode()
    keys = set(KEY_PATTERN.findall(page))
    assert len(keys) == 1
    key = keys.pop()
    assert f"Authorization: Bearer {key}" in page
    assert "http://testserver/webhooks/advance/" in page
    assert "no-store" in response["Cache-Control"]
    # Not through messages: the key would travel in a cookie.
    assert all(key not in morsel.value for morsel in response.cookies.values())
    assert all(key not in morsel.value for morsel in admin_client.cookies.values())

    token = WebhookToken.objects.get()
    assert token.source == source
    assert token.name == "production webhook"
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.lookup, token.digest, token.name}
    assert key.startswith(token.lookup)
    assert token.digest not in page

    assert token_authenticate(key=key) == token


@pytest.mark.django_db
def test_the_key_appears_nowhere_after_the_page_that_issued_it(admin_client, source):
    key = KEY_PATTERN.search(token_add(admin_client, source).content.decode()).group()
    token = WebhookToken.objects.get()

    pages = [
        admin_client.get(reverse("admin:webhooks_webhooktoken_change", args=[token.pk])),
        admin_client.get(reverse("admin:webhooks_webhooktoken_changelist")),
        admin_client.get(reverse("admin:sources_source_change", args=[source.pk])),
        admin_client.get(reverse("admin:index")),
    ]

    for page in pages:
        assert page.status_code == 200
        content = page.content.decode()
        assert key not in content
        assert token.digest not in content
    assert f"{token.lookup}…" in pages[1].content.decode()


@pytest.mark.django_db
def test_the_token_add_form_asks_only_name_source_and_expiry(admin_client, source):
    response = admin_client.get(reverse("admin:webhooks_webhooktoken_add"))

    form = response.context["adminform"].form
    assert sorted(form.fields) == ["expires_at", "name", "source"]
    assert b"_addanother" not in response.content


@pytest.mark.django_db
def test_the_token_change_page_edits_only_name_and_expiry(admin_client, source):
    token, key = token_issue(source=source, name="old name")
    url = reverse("admin:webhooks_webhooktoken_change", args=[token.pk])

    response = admin_client.get(url)
    assert sorted(response.context["adminform"].form.fields) == ["expires_at", "name"]

    response = admin_client.post(
        url, {"name": "new name", "expires_at_0": "2999-01-01", "expires_at_1": "00:00:00", "digest": "0" * 64}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.name == "new name"
    assert token.expires_at.year == 2999
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.django_db
def test_a_token_changed_in_the_admin_keeps_a_revocation_made_meanwhile_and_is_logged(admin_client, source, caplog):
    token, key = token_issue(source=source, name="old name")
    url = reverse("admin:webhooks_webhooktoken_change", args=[token.pk])
    admin_client.get(url)
    token_revoke(token=token)  # by another operator, while this one edits the page

    caplog.set_level(logging.INFO, logger="webhooks.services.tokens")
    response = admin_client.post(url, {"name": "new name", "expires_at_0": "", "expires_at_1": ""})

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.name == "new name"
    assert token.revoked_at is not None
    assert token_authenticate(key=key) is None
    assert f"webhook token changed: token={token.pk} fields=name" in caplog.messages


@pytest.mark.django_db
def test_revoke_action_makes_the_key_fail_authentication(admin_client, source):
    token, key = token_issue(source=source, name="to revoke")
    other, other_key = token_issue(source=source, name="to keep")
    assert token_authenticate(key=key) == token

    response = admin_client.post(
        reverse("admin:webhooks_webhooktoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 1 token." in response.content.decode()
    assert token_authenticate(key=key) is None
    assert token_authenticate(key=other_key) == other
    token.refresh_from_db()
    assert token.revoked_at is not None
    changelist = admin_client.get(reverse("admin:webhooks_webhooktoken_changelist") + "?status=revoked")
    assert list(changelist.context["cl"].result_list) == [token]


# Sources -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_source_add_form_stores_the_password_encrypted(admin_client):
    response = admin_client.post(reverse("admin:sources_source_add"), source_form_data())

    assert response.status_code == 302, response.context["adminform"].form.errors
    source = Source.objects.get(slug="globex")
    assert source.principal_password_encrypted
    assert SOURCE_PASSWORD not in source.principal_password_encrypted
    assert source.principal_password == SOURCE_PASSWORD
    assert source.api_base_url == "https://globex.hotdocsadvance.com/api/rest/v1.1"


@pytest.mark.django_db
def test_the_source_add_form_requires_a_password(admin_client):
    response = admin_client.post(reverse("admin:sources_source_add"), source_form_data(principal_password=""))

    assert response.status_code == 200
    assert "principal_password" in response.context["adminform"].form.errors
    assert not Source.objects.exists()


@pytest.mark.django_db
def test_the_source_change_page_never_shows_the_password(admin_client, source, token_key):
    password = source.principal_password
    response = admin_client.get(reverse("admin:sources_source_change", args=[source.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert password not in content
    assert source.principal_password_encrypted not in content
    assert "http://testserver/webhooks/advance/" in content
    assert "1 token" in content
    assert "test webhook" in content  # the read-only inline of its tokens


@pytest.mark.django_db
def test_the_source_change_form_keeps_the_password_when_left_empty(admin_client, source, token_key):
    password = source.principal_password
    url = reverse("admin:sources_source_change", args=[source.pk])
    data = source_form_data(
        slug=source.slug,
        api_base_url=source.api_base_url,
        auth_base_url=source.auth_base_url,
        principal_password="",
        name="Renamed",
        **token_inline_management(source),
    )

    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    source.refresh_from_db()
    assert source.name == "Renamed"
    assert source.principal_password == password

    response = admin_client.post(url, {**data, "principal_password": "a new one"})
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.principal_password == "a new one"


def source_move(edge: str, admin_client, monkeypatch, source: Source, *, password: str) -> str:
    """Move the source to other Advance URLs from the admin or the command; return the error shown."""
    moved = {"api_base_url": "https://elsewhere.example.com/api", "auth_base_url": "https://elsewhere.example.com/auth"}
    if edge == "admin":
        data = source_form_data(
            slug=source.slug, principal_password=password, **moved, **token_inline_management(source)
        )
        response = admin_client.post(reverse("admin:sources_source_change", args=[source.pk]), data)
        if response.status_code == 302:
            return ""
        return " ".join(response.context["adminform"].form.errors.get("principal_password", []))
    monkeypatch.setenv("ADVANCE_PRINCIPAL_PASSWORD", password)
    args = ["--api-base-url", moved["api_base_url"], "--auth-base-url", moved["auth_base_url"]]
    args += ["--client-name", "globex", "--principal-name", "sync-principal", "--update"]
    try:
        call_command("advance_source_create", source.slug, *args, stdout=io.StringIO())
    except CommandError as error:
        return str(error)
    return ""


@pytest.mark.django_db
@pytest.mark.parametrize("edge", ["admin", "command"])
def test_moving_a_source_needs_its_password_again_from_the_admin_and_the_command(
    edge, admin_client, monkeypatch, caplog, source
):
    before = (source.api_base_url, source.principal_password_encrypted)

    error = source_move(edge, admin_client, monkeypatch, source, password="")

    assert "Changing Advance's URLs needs the password again." in error
    source.refresh_from_db()
    assert (source.api_base_url, source.principal_password_encrypted) == before

    caplog.set_level(logging.INFO, logger="sources.services")
    assert source_move(edge, admin_client, monkeypatch, source, password="the new one") == ""
    source.refresh_from_db()
    assert source.api_base_url == "https://elsewhere.example.com/api"
    assert source.principal_password == "the new one"
    # The service wrote it, whichever edge asked.
    assert f"source saved: source={source.slug} created=False password_changed=True" in caplog.messages


# The delivery log --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_delivery_log_is_read_only(admin_client, failed_delivery):
    change_url = reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk])

    assert admin_client.get(reverse("admin:webhooks_delivery_add")).status_code == 403
    response = admin_client.post(change_url, {"event_id": "forged", "status": "processed"})
    assert response.status_code == 403
    failed_delivery.refresh_from_db()
    assert (failed_delivery.event_id, failed_delivery.status) == ("evt-42", "failed")
    changelist = admin_client.get(reverse("admin:webhooks_delivery_changelist"))
    assert changelist.status_code == 200
    assert reverse("admin:webhooks_delivery_add") not in changelist.content.decode()
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content


@pytest.mark.django_db
def test_the_delivery_page_shows_the_body_and_headers_pretty_printed(admin_client, failed_delivery):
    response = admin_client.get(reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk]))

    content = response.content.decode()
    assert "{\n  &quot;eventId&quot;: &quot;evt-42&quot;,\n  &quot;eventType&quot;" in content
    assert "&quot;data&quot;: {\n    &quot;workItemId&quot;: &quot;wi-1&quot;\n  }" in content
    assert "&quot;User-Agent&quot;: &quot;HotDocs-Advance&quot;" in content
    assert "ValueError: &lt;boom&gt;</pre>" in content


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_shown_as_text(admin_client, source):
    delivery = Delivery.objects.create(
        source=source,
        status=Delivery.Status.REJECTED,
        http_status=400,
        rejection_cause="unparseable JSON",
        raw_body=b"not json <script>\xff",
    )

    response = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))

    assert "not json &lt;script&gt;\ufffd</pre>" in response.content.decode()


@pytest.mark.django_db
def test_a_duplicate_links_to_its_event(admin_client, failed_delivery):
    duplicate = Delivery.objects.create(
        source=failed_delivery.source,
        event_id="evt-42",
        event_type=failed_delivery.event_type,
        status=Delivery.Status.DUPLICATE,
        http_status=200,
        duplicate_of=failed_delivery,
    )

    response = admin_client.get(reverse("admin:webhooks_delivery_change", args=[duplicate.pk]))

    assert reverse("admin:webhooks_delivery_change", args=[failed_delivery.pk]) in response.content.decode()


@pytest.mark.django_db
def test_replay_action_queues_a_failed_event_again_and_skips_the_rest(admin_client, failed_delivery):
    rejected = Delivery.objects.create(
        source=failed_delivery.source, status=Delivery.Status.REJECTED, http_status=400, rejection_cause="bad"
    )

    response = admin_client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "replay_deliveries", "_selected_action": [failed_delivery.pk, rejected.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Queued 1 event again. Skipped 1" in response.content.decode()
    failed_delivery.refresh_from_db()
    rejected.refresh_from_db()
    assert failed_delivery.status == Delivery.Status.ACCEPTED
    assert failed_delivery.processed_at is None
    assert rejected.status == Delivery.Status.REJECTED


@pytest.mark.django_db
def test_the_delivery_log_is_searchable_by_event_id_and_public_id(admin_client, failed_delivery, source):
    other = Delivery.objects.create(source=source, status=Delivery.Status.REJECTED, http_status=401, event_id="evt-7")
    changelist = reverse("admin:webhooks_delivery_changelist")

    by_event = admin_client.get(changelist, {"q": "evt-42"})
    by_public_id = admin_client.get(changelist, {"q": str(other.public_id)})

    assert list(by_event.context["cl"].result_list) == [failed_delivery]
    assert list(by_public_id.context["cl"].result_list) == [other]


HOSTILE_BODIES = {
    "nested past the parser": b"[" * 200_000,
    "nested past the recursion limit, valid": b"[" * 5_000 + b"]" * 5_000,
    "nested past the pretty-printer": b'{"a":' * 900 + b"1" + b"}" * 900,
    "lone surrogate escape": b'{"eventId": "\\ud800"}',
    "NUL escape and NUL byte": b'{"eventId": "a\\u0000b"}\x00\xff',
    "huge": b'{"filler": [' + b"1," * 1_500_000 + b"1]}",
}


@pytest.mark.django_db
@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_the_delivery_page_renders_whatever_the_body(admin_client, source, body):
    delivery = Delivery.objects.create(
        source=source, status=Delivery.Status.REJECTED, http_status=400, rejection_cause="bad", raw_body=body
    )

    response = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))

    assert response.status_code == 200
    assert b"\x00" not in response.content
    # Shown in part when large: the page stays small enough to open, and says what it left out.
    assert len(response.content) < 512 * 1024
    if len(body) > 256 * 1024:
        assert f"of {len(body)} bytes" in response.content.decode()

"""Changes of sources, sync settings and tokens, through the admin and the commands, are recorded
with before and after, and no secret (password, HMAC secret, key, digest, their ciphertexts)
appears in any column of any record."""

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import ChangeRecord
from sources.models import Source, SourceSync
from tests.factories import KEY_PATTERN, source_form_data, token_inline_management
from webhooks.models import WebhookToken

pytestmark = pytest.mark.django_db

PASSWORD = "principal-password-91c4"
NEW_PASSWORD = "principal-password-77ab"
HMAC_SECRET = "hmac-secret-value-4e1d"


def every_column_of_every_record() -> str:
    return "\n".join(str(row) for row in ChangeRecord.objects.values_list())


def test_secrets_never_appear_in_a_change_record(admin_client, admin_user):
    # The admin: create a source, change its password and HMAC secret, issue, rotate and revoke a token.
    response = admin_client.post(reverse("admin:sources_source_add"), source_form_data(principal_password=PASSWORD))
    assert response.status_code == 302
    source = Source.objects.get(slug="globex")
    changed = source_form_data(
        principal_password=NEW_PASSWORD,
        name="Globex renamed",
        auth_method="hmac",
        hmac_secret=HMAC_SECRET,
        hmac_algorithm="sha256",
        hmac_encoding="base64",
        hmac_signed_material="body",
        hmac_code_location="form",
        hmac_timestamp_header="webhook-timestamp",
        hmac_tolerance_seconds=300,
        **token_inline_management(source),
    )
    response = admin_client.post(reverse("admin:sources_source_change", args=[source.pk]), changed)
    assert response.status_code == 302, response.content.decode()[:2000]
    issued = admin_client.post(
        reverse("admin:webhooks_webhooktoken_add"),
        {"name": "prod", "source": source.pk, "expires_at_0": "", "expires_at_1": ""},
    )
    key = KEY_PATTERN.search(issued.content.decode()).group()
    token = WebhookToken.objects.get(name="prod")
    changelist = reverse("admin:webhooks_webhooktoken_changelist")
    rotated = admin_client.post(
        changelist, {"action": "tokens_rotate", "_selected_action": [token.pk], "grace": "86400", "confirm": "yes"}
    )
    new_key = KEY_PATTERN.search(rotated.content.decode()).group()
    admin_client.post(changelist, {"action": "revoke_tokens", "_selected_action": [token.pk]})
    source.refresh_from_db()
    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        HMAC_SECRET,
        key,
        new_key,
        *WebhookToken.objects.values_list("digest", flat=True),
        source.principal_password_encrypted,
        source.hmac_secret_encrypted,
    ]

    text = every_column_of_every_record()

    assert [secret[:8] for secret in secrets if secret and secret in text] == []
    actions = list(ChangeRecord.objects.order_by("pk").values_list("action", "content_type__model", "username"))
    assert actions == [
        ("created", "source", "admin"),
        ("changed", "source", "admin"),  # the name and the method, the password as "changed"
        ("changed", "source", "admin"),  # the HMAC secret, as "changed"
        ("issued", "webhooktoken", "admin"),
        ("issued", "webhooktoken", "admin"),  # the rotation's new token
        ("rotated", "webhooktoken", "admin"),
        ("revoked", "webhooktoken", "admin"),
    ]
    details = ChangeRecord.objects.filter(action="changed").order_by("pk")
    assert details[0].before["name"] == "Globex tenancy" and details[0].after["name"] == "Globex renamed"
    assert details[0].after["principal_password_encrypted"] == "changed"
    assert details[1].after["hmac_secret_encrypted"] == "changed"
    assert all(record.source_id == source.pk for record in ChangeRecord.objects.all())


def test_a_token_name_changed_in_the_admin_is_recorded_with_before_and_after(admin_client, source):
    from webhooks.services import token_issue

    token, _ = token_issue(source=source, name="old name")
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    admin_client.post(
        reverse("admin:webhooks_webhooktoken_change", args=[token.pk]),
        {"name": "new name", "expires_at_0": expires.date().isoformat(), "expires_at_1": expires.strftime("%H:%M:%S")},
    )

    record = ChangeRecord.objects.filter(action="changed").get()
    assert record.before["name"] == "old name" and record.after["name"] == "new name"
    assert record.before["expires_at"] is None and record.after["expires_at"]


def test_sync_settings_saved_in_the_admin_are_recorded(admin_client, source):
    sync = SourceSync.objects.create(source=source)

    admin_client.post(
        reverse("admin:sources_sourcesync_change", args=[sync.pk]),
        {
            "documents_scope": "version",
            "post_processing_status_path": "",
            "post_processing_status_method": "PUT",
            "post_processing_status_body": "",
            "search_config": "english",
            "reconcile_interval_minutes": 60,
            "reconcile_query": "",
            "reconcile_watermark": "",
        },
    )

    record = ChangeRecord.objects.filter(content_type__model="sourcesync").get()
    assert record.before["documents_scope"] == "auto" and record.after["documents_scope"] == "version"
    assert record.username == "admin" and record.source_id == source.pk


def test_commands_record_their_changes_without_a_user(monkeypatch, capsys):
    monkeypatch.setenv("ADVANCE_PRINCIPAL_PASSWORD", PASSWORD)
    call_command(
        "advance_source_create",
        "initech",
        "--api-base-url=https://initech.example/api",
        "--auth-base-url=https://initech.example/auth",
        "--client-name=c",
        "--principal-name=p",
    )
    call_command("webhook_token_create", "initech", "script")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    monkeypatch.setenv("ADVANCE_HMAC_SECRET", HMAC_SECRET)
    call_command("webhook_hmac_set", "initech")

    records = list(ChangeRecord.objects.order_by("pk").values_list("action", "content_type__model", "username"))

    assert records == [("created", "source", ""), ("issued", "webhooktoken", ""), ("changed", "source", "")]
    text = every_column_of_every_record()
    assert PASSWORD not in text and HMAC_SECRET not in text and key not in text
    # The key's lookup prefix is no secret (shown in the admin, as knox shows its prefix); the rest is.
    assert re.search(re.escape(key[12:]), text) is None

"""Secrets at rest: encrypted with a key that can be rotated, and absent from a real database dump."""

import os
import subprocess
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from webhooks.models import Delivery, Source
from webhooks.services import source_hmac_configure, source_hmac_secret_set, source_save, token_issue

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
PASSWORD = "principal-Pa55word-7c1e"
HMAC_CURRENT = "hmac-current-secret-93af"
HMAC_PREVIOUS = "hmac-previous-secret-41d0"


def source_with_secrets(slug: str = "vault") -> Source:
    source, _ = source_save(
        slug=slug,
        api_base_url="https://vault.example.com/api/rest/v1.1",
        auth_base_url="https://vault.example.com/auth",
        client_name="client",
        principal_name="principal",
        principal_password=PASSWORD,
    )
    source_hmac_configure(source=source, signed_material="body")
    source_hmac_secret_set(source=source, secret=HMAC_PREVIOUS)
    source_hmac_secret_set(source=source, secret=HMAC_CURRENT)
    return source


def stored_plaintexts(source_id: int) -> tuple[str, list[str]]:
    source = Source.objects.get(pk=source_id)
    return source.principal_password, source.hmac_secrets


@pytest.mark.django_db
class TestKeyRotation:
    def test_rows_under_the_old_key_read_with_both_keys_and_after_rotation_with_the_new_key_alone(self, settings):
        settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
        source = source_with_secrets()
        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
        assert stored_plaintexts(source.pk) == (PASSWORD, [HMAC_CURRENT, HMAC_PREVIOUS])

        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
        with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEYS"):
            stored_plaintexts(source.pk)  # the test can fail: the new key alone opens nothing yet

        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
        out = StringIO()
        call_command("secrets_rotate", stdout=out)
        assert "Re-encrypted 3 secrets" in out.getvalue()

        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
        assert stored_plaintexts(source.pk) == (PASSWORD, [HMAC_CURRENT, HMAC_PREVIOUS])

    def test_a_secret_no_key_opens_is_reported_and_the_others_are_rotated(self, settings):
        settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
        lost = source_with_secrets("lost")
        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
        kept, _ = source_save(
            slug="kept",
            api_base_url="https://kept.example.com",
            auth_base_url="https://kept.example.com/auth",
            client_name="c",
            principal_name="p",
            principal_password="kept-password",
        )
        settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), NEW_KEY]

        with pytest.raises(CommandError, match="lost"):
            call_command("secrets_rotate", stdout=StringIO())

        settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
        assert Source.objects.get(pk=kept.pk).principal_password == "kept-password"
        assert Source.objects.get(pk=lost.pk).principal_password_encrypted  # left as it was, not wiped

    def test_an_hmac_source_whose_secret_no_key_opens_answers_401_not_5xx(self, settings):
        settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
        source_with_secrets()
        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

        response = Client().post("/webhooks/advance/vault/?token=x", data=b"{}", content_type="application/json")

        assert response.status_code == 401


def pg_dump(database: str) -> bytes:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = [
        os.path.join(os.environ["PG_BIN"], "pg_dump"),
        "--no-owner",
        "-h",
        db["HOST"] or "127.0.0.1",
        "-p",
        str(db["PORT"] or 5432),
        "-U",
        db["USER"],
        database,
    ]
    result = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.mark.skipif(
    not os.environ.get("PG_BIN") or connection.vendor != "postgresql",
    reason="needs the PostgreSQL that `make test` starts (PG_BIN)",
)
@pytest.mark.django_db(transaction=True)
def test_a_database_dump_reveals_no_password_key_or_hmac_secret():
    source = source_with_secrets()
    token_source, _ = source_save(
        slug="tokens",
        api_base_url="https://tokens.example.com",
        auth_base_url="https://tokens.example.com/auth",
        client_name="c",
        principal_name="p",
        principal_password=PASSWORD,
    )
    token, key = token_issue(source=token_source, name="dumped token")
    # A call with the key, so that the delivery log has its row too (headers, body).
    response = Client().post(
        "/webhooks/advance/",
        data=b'{"eventId": "dump-1"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 400
    assert Delivery.objects.filter(token=token).exists()

    dump = pg_dump(connection.settings_dict["NAME"])

    # The rows are in the dump (else the test proves nothing) ...
    assert b"vault" in dump and token.lookup.encode() in dump and token.digest.encode() in dump
    assert Source.objects.get(pk=source.pk).hmac_secret_encrypted.encode() in dump
    # ... and no secret is, in text or in the hex a bytea column is dumped as.
    for secret in (PASSWORD, key, key[len(token.lookup) :], HMAC_CURRENT, HMAC_PREVIOUS):
        assert secret.encode() not in dump, secret
        assert secret.encode().hex().encode() not in dump, secret

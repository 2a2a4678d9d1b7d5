"""Secrets at rest: encrypted with a key that can be rotated, and absent from a real database dump."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from io import StringIO
from urllib.parse import quote, quote_plus, urlencode

import pytest
import requests
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from interviews.services import answer_stored_set
from sources.models import Source
from sources.services import source_save
from tests.support.processes import BASE_DIR, free_port
from tests.support.required import service_missing
from tests.support.waiting import wait_for
from webhooks.models import Delivery
from webhooks.redaction import CREDENTIAL_HEADER_NAMES, header_key
from webhooks.services import intake, source_hmac_configure, source_hmac_secret_set, token_issue

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


@pytest.fixture
def postgresql_tools() -> str:
    """The binaries of the PostgreSQL `make test` started (PG_BIN), whose pg_dump reads the database."""
    if connection.vendor != "postgresql" or not os.environ.get("PG_BIN"):
        service_missing("The PostgreSQL of `make test` and its binaries (PG_BIN)")
    return os.environ["PG_BIN"]


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


@pytest.mark.usefixtures("postgresql_tools")
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


# Credentials of webhook calls: none kept at rest, whatever the method and however the call ends -----


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def event_json(event_id: str) -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "eventType": "NewWorkItemVersionComplete",
            "data": {"workItemId": "wi-dump", "workItemVersionId": f"v-{event_id}", "documents": []},
        }
    ).encode()


def hmac_source_make(slug: str, secret: str, **settings) -> Source:
    source, _ = source_save(
        slug=slug,
        api_base_url=f"https://{slug}.example.com",
        auth_base_url=f"https://{slug}.example.com/auth",
        client_name="c",
        principal_name="p",
        principal_password=PASSWORD,
    )
    source_hmac_configure(source=source, **settings)
    source_hmac_secret_set(source=source, secret=secret)
    return source


def forms(*pairs: tuple[str, str]) -> bytes:
    return urlencode(pairs).encode()


@pytest.mark.usefixtures("postgresql_tools")
@pytest.mark.django_db(transaction=True)
def test_a_database_dump_after_calls_of_every_kind_holds_none_of_their_codes():
    client = Client()
    codes: list[str] = []
    statuses: list[int] = []

    def call(method: str, url: str, code: str, **kwargs) -> None:
        codes.append(code)
        statuses.append(getattr(client, method)(url, **kwargs).status_code)

    # A code in the source's own header (--code-in header --header X-Advance-Code).
    hmac_source_make("hdr", "header-secret", code_location="header", header_name="X-Advance-Code", encoding="hex")
    for body in (event_json("h-1"), event_json("h-1"), b'{"eventId": "h-2"}'):  # accepted, duplicate, rejected
        code = hex_hmac("header-secret", body)
        call(
            "post", "/webhooks/advance/hdr/", code, data=body, content_type="application/json", HTTP_X_ADVANCE_CODE=code
        )
    call(
        "post", "/webhooks/advance/hdr/", "0badc0de" * 8, data=event_json("h-3"), content_type="application/json",
        HTTP_X_ADVANCE_CODE="0badc0de" * 8,
    )  # fmt: skip

    # The code in the query string of interview GETs: the code of an empty body, the same every time.
    query_source = hmac_source_make("qry", "query-secret")
    answer_stored_set(source=query_source, event_type="InterviewLoadEvent", event_name="", answer_json='{"A": 1}')
    static_code = b64_hmac("query-secret", b"")
    call("get", "/webhooks/advance/qry/", static_code, data={"eventType": "InterviewLoadEvent", "token": static_code})
    call(
        "get",
        "/webhooks/advance/qry/",
        static_code,
        data={"eventType": "CustomInterviewEvent", "eventName": "none", "token": static_code},
    )
    call("get", "/webhooks/advance/qry/", "d3Jvbmc=", data={"eventType": "InterviewLoadEvent", "token": "d3Jvbmc="})

    # The code in a `token` form field (Advance's documented HMAC), signed over the rest of the form.
    hmac_source_make("frm", "form-secret", signed_material="body-without-token")
    for event_id in ("f-1", "f-1"):
        rest = forms(("eventId", event_id), ("eventType", "NewWorkItemVersionComplete"), ("data[workItemId]", "wi"))
        rest += b"&data[workItemVersionId]=v-" + event_id.encode()
        code = b64_hmac("form-secret", rest)
        body = rest + b"&" + forms(("token", code))
        call("post", "/webhooks/advance/frm/", code, data=body, content_type="application/x-www-form-urlencoded")
    refused_code = b64_hmac("another-secret", b"eventId=f-2")
    call(
        "post", "/webhooks/advance/frm/", refused_code, data=b"eventId=f-2&" + forms(("token", refused_code)),
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip

    # A webhook token in Authorization, bare and as a bearer token.
    token_source, _ = source_save(
        slug="bearer",
        api_base_url="https://bearer.example.com",
        auth_base_url="https://bearer.example.com/auth",
        client_name="c",
        principal_name="p",
        principal_password=PASSWORD,
    )
    _, key = token_issue(source=token_source, name="dump")
    for body, authorization in ((event_json("t-1"), f"Bearer {key}"), (event_json("t-1"), key), (b"{", key)):
        call(
            "post",
            "/webhooks/advance/",
            key,
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=authorization,
        )

    assert statuses == [202, 200, 400, 401, 200, 404, 401, 202, 200, 401, 202, 200, 400]
    kinds = set(Delivery.objects.values_list("status", flat=True))
    assert kinds == {"accepted", "duplicate", "rejected", "answered"}

    dump = pg_dump(connection.settings_dict["NAME"])

    # The rows are in the dump (bodies are bytea, dumped as hex), else the test proves nothing.
    assert b"wi-dump".hex().encode() in dump and b"data[workItemVersionId]=v-f-1".hex().encode() in dump
    for code in set(codes):
        for spelling in {code, quote(code, safe=""), quote_plus(code)}:
            assert spelling.encode() not in dump, code
            assert spelling.encode().hex().encode() not in dump, code


@pytest.mark.parametrize("log_format", ["", "json"])
def test_the_access_log_of_the_documented_gunicorn_command_writes_no_token(tmp_path, log_format):
    """gunicorn started as the README and the Dockerfile start it: the request line keeps the rest
    of the query and loses the code."""
    port = free_port()
    env = {**os.environ, "LOG_FORMAT": log_format, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "--config", "python:config.gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-",
            ],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/healthz?keep=1&token=S3cretCode%2B%3D&Token=second-code"

            def answered() -> bool:
                assert process.poll() is None, log_path.read_text()
                try:
                    return requests.get(url, timeout=5, headers={"Referer": url}).status_code == 200
                except requests.RequestException:
                    return False

            wait_for(answered, timeout=30, message="gunicorn")
            wait_for(lambda: "keep=1" in log_path.read_text(), timeout=10, message="the access log line")
        finally:
            process.terminate()
            process.wait(timeout=20)
    text = log_path.read_text()
    assert "GET /healthz?keep=1 HTTP/1.1" in text
    for secret in ("S3cretCode", "second-code"):
        assert secret not in text


def test_the_dockerfile_and_compose_start_gunicorn_with_the_redacting_access_logger():
    from gunicorn.config import Config

    config = Config()
    config.set("logger_class", __import__("config.gunicorn", fromlist=["logger_class"]).logger_class)
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    compose = (BASE_DIR / "docker-compose.yml").read_text()

    assert config.logger_class.__name__ == "RedactingLogger"
    assert '"--config", "python:config.gunicorn"' in dockerfile
    assert "--config=python:config.gunicorn" in compose
    for text in (dockerfile, compose):
        assert "logger-class" not in text and "access-logformat" not in text


def multipart(boundary: bytes, *parts: tuple[bytes, str]) -> bytes:
    """A multipart body; each part is (its Content-Disposition parameters, its value)."""
    return (
        b"".join(
            b"--" + boundary + b"\r\nContent-Disposition: form-data; " + params + b"\r\n\r\n" + value.encode() + b"\r\n"
            for params, value in parts
        )
        + b"--"
        + boundary
        + b"--\r\n"
    )


@pytest.mark.usefixtures("postgresql_tools")
@pytest.mark.django_db(transaction=True)
def test_a_multipart_code_is_not_kept_however_its_name_or_boundary_is_written():
    hmac_source_make("mpt", "multipart-secret", signed_material="body-without-token")
    token_source, _ = source_save(
        slug="mptok",
        api_base_url="https://mptok.example.com",
        auth_base_url="https://mptok.example.com/auth",
        client_name="c",
        principal_name="p",
        principal_password=PASSWORD,
    )
    _, key = token_issue(source=token_source, name="multipart")
    event = [
        (b'name="eventId"', "mp-1"),
        (b'name="eventType"', "NewWorkItemVersionComplete"),
        (b'name="data[workItemId]"', "wi"),
        (b'name="data[workItemVersionId]"', "v"),
    ]
    codes = [f"refusedcode{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" for n in range(4)]
    calls = [
        # The name in RFC 2231 form, which Django's parser would read as `token`.
        ("multipart/form-data; boundary=b1", multipart(b"b1", *event, (b"name*=UTF-8''token", codes[0]))),
        # Two boundary parameters: Django's parser would take the last.
        (
            "multipart/form-data; boundary=decoy; boundary=b2",
            multipart(b"b2", *event, (b'name="token"', codes[1])),
        ),
        # A second Content-Disposition line: Django's parser would take the last.
        (
            "multipart/form-data; boundary=b3",
            multipart(b"b3", *event, (b'name="other"\r\nContent-Disposition: form-data; name="token"', codes[2])),
        ),
    ]
    statuses = []
    for content_type, body in calls:
        client = Client()
        statuses.append(client.post("/webhooks/advance/mpt/", data=body, content_type=content_type).status_code)
        statuses.append(
            client.post(
                "/webhooks/advance/", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
            ).status_code
        )
    # The code's value also in another field: removing the field cannot remove it from the call.
    echoed = multipart(b"b4", *event, (b'name="token"', codes[3]), (b'name="note"', codes[3]))
    statuses.append(
        Client()
        .post("/webhooks/advance/mpt/", data=echoed, content_type="multipart/form-data; boundary=b4")
        .status_code
    )

    # Each is read one way only (webhooks.inbound) or not at all: refused before anything keeps it.
    assert statuses == [400] * 7
    assert not Delivery.objects.exclude(credentials_encrypted="").exists()
    # The same event sent plainly is stored, so the dump below holds bodies of this test's calls.
    plain = multipart(b"b5", *event, (b'name="token"', "x"))
    assert (
        Client()
        .post("/webhooks/advance/", data=plain, content_type="multipart/form-data; boundary=b5", HTTP_AUTHORIZATION=key)
        .status_code
        == 202
    )
    dump = pg_dump(connection.settings_dict["NAME"])
    assert b"mp-1".hex().encode() in dump  # the body is in the dump, else the test proves nothing
    for code in codes:
        assert code.encode() not in dump, code
        assert code.encode().hex().encode() not in dump, code


def test_one_list_of_credential_headers_serves_the_delivery_log_the_access_log_and_redaction():
    # Every header the redaction list names is left out of the delivery log's headers, and only those.
    meta = {header_key(name): "secret-value" for name in CREDENTIAL_HEADER_NAMES} | {"HTTP_X_PLAIN": "kept"}
    assert intake.headers_loggable(meta) == {"X-Plain": "kept"}
    assert not hasattr(intake, "CREDENTIAL_HEADERS")  # no second list to drift from the first

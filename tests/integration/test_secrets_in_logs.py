"""Logs never contain keys, passwords, secrets or bodies, with every logger at DEBUG."""

import base64
import hashlib
import hmac
import logging
from urllib.parse import quote

import pytest
from django.test import Client

from documents.advance.client import AdvanceClient
from sources.services import source_save
from tests.factories import event_json
from webhooks.services import source_hmac_configure, source_hmac_secret_set, token_issue

BODY_MARKER = "body-marker-5f2a9c"  # in every body sent; must not be logged
HMAC_SECRET = "hmac-secret-in-logs-8d1b"


@pytest.fixture
def everything_at_debug(caplog):
    names = ["", *logging.root.manager.loggerDict]
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    # Loggers that do not propagate would escape caplog's handler on the root logger.
    quiet = [logger for logger in map(logging.getLogger, names) if not logger.propagate]
    for logger in quiet:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in quiet:
        logger.removeHandler(caplog.handler)


def logged_text(caplog) -> str:
    """Everything a handler could write: messages, their arguments, tracebacks, extra fields."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), record.exc_text or "", repr(vars(record))]
    return "\n".join(parts)


def event(event_id: str) -> bytes:
    return event_json(event_id, workItemName=BODY_MARKER).encode()


@pytest.mark.django_db
def test_token_issue_calls_and_log_in_leave_no_secret_or_body_in_the_logs(everything_at_debug, advance, source):
    caplog = everything_at_debug
    client = Client()
    _, key = token_issue(source=source, name="logged")
    wrong_key = key[:-6] + "AAAAAA"
    hmac_source, _ = source_save(
        slug="signed",
        api_base_url=source.api_base_url,
        auth_base_url=source.auth_base_url,
        client_name="c",
        principal_name="p",
        principal_password="another-password-2b7e",
    )
    source_hmac_configure(source=hmac_source)
    source_hmac_secret_set(source=hmac_source, secret=HMAC_SECRET)

    answers = [
        client.post(
            "/webhooks/advance/", event("e-1"), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        ),
        client.post("/webhooks/advance/", event("e-1"), content_type="application/json", HTTP_AUTHORIZATION=key),
        client.post(
            "/webhooks/advance/",
            b'{"' + BODY_MARKER.encode() + b'": 1',
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        ),
        client.post("/webhooks/advance/", BODY_MARKER.encode(), content_type="text/plain", HTTP_AUTHORIZATION=key),
        client.post(
            "/webhooks/advance/",
            event("e-2"),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {wrong_key}",
        ),
        client.post("/webhooks/advance/", event("e-3"), content_type="application/json"),
    ]
    body = event("e-4")
    code = base64.b64encode(hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    answers.append(
        client.post(f"/webhooks/advance/signed/?token={quote(code, safe='')}", body, content_type="application/json")
    )
    answers.append(client.post("/webhooks/advance/signed/?token=AAAA", body, content_type="application/json"))
    access_token = AdvanceClient(source).login()

    assert [answer.status_code for answer in answers] == [202, 200, 400, 415, 401, 401, 202, 401]
    text = logged_text(caplog)
    # The logs did record all of this (so that the test can fail) ...
    for expected in (
        "event accepted",
        "duplicate delivery",
        "delivery rejected",
        "hmac authentication failed",
        "logged in to Advance",
        "webhook token issued",
    ):
        assert expected in text, expected
    # ... without a key, password, secret, access token or body.
    for secret in (
        key,
        key[12:],
        wrong_key[12:],
        source.principal_password,
        "another-password-2b7e",
        HMAC_SECRET,
        access_token,
        BODY_MARKER,
        code,
    ):
        assert secret not in text, secret


@pytest.mark.django_db
def test_sql_with_bodies_is_not_logged_even_when_queries_are(caplog, token_key):
    from django.db import connection

    caplog.set_level(logging.DEBUG)  # the root; django.db.backends keeps the level LOGGING gives it
    connection.force_debug_cursor = True  # as with DJANGO_DEBUG=1: every query with its parameters
    try:
        response = Client().post(
            "/webhooks/advance/",
            event("sql-1"),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token_key}",
        )
    finally:
        connection.force_debug_cursor = False

    assert response.status_code == 202
    assert len(connection.queries) > 0  # the queries were recorded, with the body among their parameters
    assert BODY_MARKER not in logged_text(caplog)
    assert token_key not in logged_text(caplog)

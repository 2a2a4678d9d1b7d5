"""LOG_FORMAT=json: one JSON object per line, with the ids the line concerns."""

import json
import logging
import os
import subprocess
import sys

import pytest

from config.logging import JsonFormatter
from tests.support.processes import BASE_DIR
from webhooks.services import source_hmac_configure, source_hmac_secret_set


def formatted(message: str, *args, extra: dict | None = None, exc_info=None) -> dict:
    record = logging.getLogger("documents.services").makeRecord(
        "documents.services", logging.WARNING, __file__, 1, message, args, exc_info, extra=extra
    )
    return json.loads(JsonFormatter().format(record))


def test_ids_in_the_message_become_fields():
    line = formatted("document failed: document=%s reason=%s", 42, "HTTP 404")

    assert line["message"] == "document failed: document=42 reason=HTTP 404"
    assert line["document_id"] == 42
    assert line["level"] == "WARNING" and line["logger"] == "documents.services"
    assert line["time"].endswith("Z")


def test_an_event_is_its_delivery_and_extra_fields_are_kept():
    line = formatted("duplicate delivery: event=%s source=%s", 7, "acme", extra={"source": "acme", "document_id": 9})

    assert line["delivery_id"] == 7
    assert line["source"] == "acme"
    assert line["document_id"] == 9


def test_a_counted_plural_is_not_taken_for_an_id():
    line = formatted("event recorded: delivery=%s version=%s documents=%s", 3, 4, 12)

    assert (line["delivery_id"], line["version_id"]) == (3, 4)
    assert "document_id" not in line


def test_exceptions_are_one_field_of_the_same_line():
    try:
        raise ValueError("boom")
    except ValueError:
        line = formatted("unexpected error syncing document=%s", 5, exc_info=sys.exc_info())

    assert "ValueError: boom" in line["exc_info"]


def test_log_format_json_makes_the_application_log_json_lines(tmp_path):
    script = (
        "import django, logging; django.setup()\n"
        "logging.getLogger('webhooks.services').info('event accepted: delivery=%s type=%s', 12, 'X')\n"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "VAR_DIR": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=True
    )

    [line] = [json.loads(text) for text in result.stderr.splitlines() if text.startswith("{")]
    assert line["delivery_id"] == 12 and line["logger"] == "webhooks.services"


# Credentials in the logs -------------------------------------------------------------------------

CODE = "interview-code-never-logged-7f3a9c"
# Interview GETs carrying the HMAC code in the query string, answered 404 (no answer configured for
# the event, after the code was accepted) and 401 (a wrong code), as Advance would send them.
REQUESTS = """
import django; django.setup()
from django.test import Client
client = Client()
url = '/webhooks/advance/acme/InterviewLoadEvent/'
print(client.get(url, {{'workItemId': 'wi-1', 'token': {code!r}}}).status_code)
print(client.get(url, {{'token': {wrong!r}, 'workItemId': 'wi-1'}}).status_code)
"""


def run_logging(log_format: str, script: str, **env: str) -> subprocess.CompletedProcess:
    """Run script under the test settings with LOG_FORMAT, against this test's database."""
    from django.db import connection

    database_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    environment = {
        **os.environ,
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": database_url,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_an_interview_get_refused_or_not_found_leaves_no_code_in_the_log(source, log_format):
    source_hmac_configure(source=source, signed_material="shared-value")
    source_hmac_secret_set(source=source, secret=CODE)
    wrong = CODE[::-1]

    result = run_logging(log_format, REQUESTS.format(code=CODE, wrong=wrong))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["404", "401"]
    output = result.stdout + result.stderr
    # What Django logged about both answers came out of the handler, and holds neither code.
    assert "Not Found: /webhooks/advance/acme/InterviewLoadEvent/" in output
    assert "Unauthorized: /webhooks/advance/acme/InterviewLoadEvent/" in output
    assert CODE not in output and wrong not in output
    if log_format == "json":
        lines = [json.loads(text) for text in result.stderr.splitlines() if text.startswith("{")]
        [not_found] = [line for line in lines if line["message"].startswith("Not Found")]
        # The request is still told: its method and path, the rest of its query kept.
        assert not_found["request"] == "GET /webhooks/advance/acme/InterviewLoadEvent/?workItemId=wi-1"
        assert not_found["status_code"] == 404


LOGGED_URLS = """
import django, logging; django.setup()
logging.getLogger('django.security.SuspiciousOperation').warning(
    'Bad Request (%s): %s', 'made up', '/webhooks/advance/acme/?token={code}&a=1'
)
logging.getLogger('django.server').info('"%s" %s %s', 'GET /webhooks/advance/acme/?Token={code} HTTP/1.1', 404, 12)
try:
    raise ValueError('could not read http://sync.example.com/webhooks/advance/acme/?token={code}')
except ValueError:
    logging.getLogger('django.request').exception('Internal Server Error: %s', '/webhooks/advance/acme/')
"""


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_a_url_in_a_message_its_arguments_or_a_traceback_is_logged_without_its_code(log_format):
    result = subprocess.run(
        [sys.executable, "-c", LOGGED_URLS.format(code=CODE)],
        cwd=BASE_DIR,
        env={**os.environ, "LOG_FORMAT": log_format, "LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert CODE not in result.stderr
    assert "Bad Request (made up): /webhooks/advance/acme/?a=1" in result.stderr
    assert "GET /webhooks/advance/acme/ HTTP/1.1" in result.stderr
    assert "ValueError: could not read http://sync.example.com/webhooks/advance/acme/" in result.stderr

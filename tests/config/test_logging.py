"""LOG_FORMAT=json: one JSON object per line, with the ids the line concerns."""

import json
import logging
import os
import subprocess
import sys

from config.logging import JsonFormatter
from tests.support.processes import BASE_DIR


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

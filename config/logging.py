"""JSON log lines (LOG_FORMAT=json): one object per line, with the ids a line concerns as fields.

Ids come from the log call's `extra={...}` (any key not a standard LogRecord attribute becomes a
field), or are read from the message: the project logs them as `delivery=12`, `event=12` (an
event is its first delivery), `document=34`, `version=5`, `token=7`. They become `delivery_id`,
`document_id`, `version_id` and `token_id`.

Every record, whatever logged it (Django's `django.request` and `django.security` pass the
request along, runserver logs request lines, a traceback may quote a URL), leaves the process
without the HMAC code of a URL's query string: `RedactingFilter` sits on every handler
(`logging_configure`, Django's LOGGING_CONFIG) and removes `token` parameters by the one rule the
access log and the delivery log use (webhooks.inbound.query_redact).
"""

import json
import logging
import logging.config
import re
from datetime import UTC, datetime

from django.http import HttpRequest

from webhooks.inbound import query_redact

# Attributes every LogRecord has; anything else on a record came from `extra`.
RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
ID_IN_MESSAGE = re.compile(r"\b(delivery|event|document|version|token)=(\d+)\b")
ID_FIELDS = {
    "delivery": "delivery_id",
    "event": "delivery_id",
    "document": "document_id",
    "version": "version_id",
    "token": "token_id",
}


# A URL's query in free text: from its "?" to the first character no URL holds unquoted.
QUERY_IN_TEXT = re.compile(r"\?([^\s'\"<>#]*)")


def _query_match_redact(match: re.Match) -> str:
    query = query_redact(match.group(1))
    if query == match.group(1):
        return match.group(0)  # untouched, "?" included: it may be a question mark
    return f"?{query}" if query else ""


def text_redact(text: str) -> str:
    """The text with every URL query's `token` parameters removed, the rest as it was."""
    return QUERY_IN_TEXT.sub(_query_match_redact, text) if "?" in text else text


def request_text(request: HttpRequest) -> str:
    """A request as a log may tell it: method and path, its query without the code."""
    query = query_redact(request.META.get("QUERY_STRING", "") or "")
    return f"{request.method} {request.path}" + (f"?{query}" if query else "")


def value_redact(value: object) -> object:
    """An `extra` value without the code: requests told as request_text, text redacted; other
    objects are kept unless their text (what a JSON line would show) holds a code."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return text_redact(value)
    if isinstance(value, HttpRequest):
        return request_text(value)
    if isinstance(value, dict):
        return {key: value_redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [value_redact(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    text = str(value)
    redacted = text_redact(text)
    return value if redacted == text else redacted


_traceback_formatter = logging.Formatter()


def record_redact(record: logging.LogRecord) -> None:
    """Remove the code from the record's message (with its arguments), extras and traceback."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit: the handler reports it, as without this filter
        message = None
    if message is not None:
        redacted = text_redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
    for key, value in list(vars(record).items()):
        if key not in RECORD_ATTRIBUTES and not key.startswith("_"):
            setattr(record, key, value_redact(value))
    if record.exc_info and not record.exc_text:
        text = _traceback_formatter.formatException(record.exc_info)
        redacted = text_redact(text)
        if redacted != text:
            record.exc_text = redacted
    elif record.exc_text:
        record.exc_text = text_redact(record.exc_text)
    if record.stack_info:
        record.stack_info = text_redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """Lets every record through, without the HMAC code of any URL it mentions."""

    def filter(self, record: logging.LogRecord) -> bool:
        record_redact(record)
        return True


def handlers_redact(**_signal) -> None:
    """Put a RedactingFilter on every handler of every logger that has none yet."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
                handler.addFilter(RedactingFilter())


def logging_configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: LOGGING as dictConfig reads it, then the redaction on every
    handler, Django's defaults included, and on those a Celery worker sets up later."""
    from celery import signals

    logging.config.dictConfig(config)
    handlers_redact()
    signals.after_setup_logger.connect(handlers_redact, weak=False)
    signals.after_setup_task_logger.connect(handlers_redact, weak=False)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in vars(record).items():
            if key not in RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        for name, value in ID_IN_MESSAGE.findall(message):
            entry.setdefault(ID_FIELDS[name], int(value))
        if record.exc_info:
            # exc_text: the traceback as RedactingFilter left it.
            entry["exc_info"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

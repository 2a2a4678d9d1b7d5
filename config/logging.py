"""JSON log lines (LOG_FORMAT=json): one object per line, with the ids a line concerns as fields.

Ids come from the log call's `extra={...}` (any key not a standard LogRecord attribute becomes a
field), or are read from the message: the project logs them as `delivery=12`, `event=12` (an
event is its first delivery), `document=34`, `version=5`, `token=7`. They become `delivery_id`,
`document_id`, `version_id` and `token_id`.
"""

import json
import logging
import re
from datetime import UTC, datetime

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
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

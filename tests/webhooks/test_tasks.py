"""webhooks/tasks.py: the event task's retries and time limits come from settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DECLARED = """
import json, django
django.setup()
from webhooks.tasks import delivery_process
print(json.dumps([delivery_process.max_retries, delivery_process.soft_time_limit, delivery_process.time_limit]))
"""


def delivery_process_declared(**env: str) -> list[int]:
    # A fresh process: a task's options are fixed when its module is imported.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("WEBHOOK_PROCESS_")}
    result = subprocess.run(
        [sys.executable, "-c", DECLARED],
        cwd=BASE_DIR,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_delivery_process_takes_its_retries_and_time_limits_from_settings():
    configured = delivery_process_declared(WEBHOOK_PROCESS_MAX_RETRIES="3", WEBHOOK_PROCESS_TIME_LIMIT="42")
    default = delivery_process_declared()

    assert configured == [3, 42, 102]
    assert default == [8, 300, 360]

"""`make bench`: production settings, plus the baseline view the intake is measured against."""

import os

# Every process of a run (gunicorn, workers) must decrypt what another encrypted: one fixed key
# for the throw-away bench database, unless the environment gives one.
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtb25seS1rZXktbmV2ZXItdXNlLWl0LWVsc2U=")
# The bench reads /metrics and /readyz/queues from this machine only.
os.environ.setdefault("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8")

from .production import *  # noqa: E402, F403
from .production import LOGGING  # noqa: E402

ROOT_URLCONF = "bench.urls"
# Per-request log lines would measure the logger, not the endpoint.
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "WARNING"}}

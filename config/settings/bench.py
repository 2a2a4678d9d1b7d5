"""`make bench`: production settings, plus the baseline view the intake is measured against."""

from .production import *  # noqa: F403
from .production import LOGGING

ROOT_URLCONF = "bench.urls"
# Per-request log lines would measure the logger, not the endpoint.
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "WARNING"}}

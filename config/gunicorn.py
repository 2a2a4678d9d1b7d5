"""Gunicorn settings: `gunicorn --config python:config.gunicorn config.wsgi:application`.

Command-line options given next to it win over these (scripts/run.py passes its --bind).
What this file adds that the command line cannot: the Prometheus multiprocess directory, set
before any worker imports prometheus_client, and the hook that tells prometheus_client a worker
has exited, so /metrics stays right under several workers, and the access logger that removes
credentials (webhooks/access_log.py). With LOG_FORMAT=json, gunicorn's own error and access logs are
JSON lines too.
"""

import os
from pathlib import Path

from config.embedded import VAR_DIR
from config.env import env_int, env_str

# Every process of the app that counts (these workers, Celery's) must share one directory; it is
# written back to the environment, where prometheus_client looks for it.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = env_str("PROMETHEUS_MULTIPROC_DIR") or str(VAR_DIR / "prometheus")
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

bind = env_str("GUNICORN_BIND", "0.0.0.0:8000")
workers = env_int("WEB_CONCURRENCY", 2)
# One thread per worker (gunicorn's sync worker) unless told otherwise. The webhook calls are
# short and CPU-bound, and threads contend for each process's GIL: sync workers answered more of
# them, with a lower p99 (docs/performance.md). Threads pay off where requests wait: raise GUNICORN_THREADS
# (or WEB_CONCURRENCY) when interview answer providers call slow services (see the README).
threads = env_int("GUNICORN_THREADS", 1)
accesslog = "-"
# The access log never writes a credential: no `token` in request lines or query strings.
logger_class = "webhooks.access_log.RedactingLogger"
graceful_timeout = 10

if env_str("LOG_FORMAT").lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }


def child_exit(server, worker) -> None:
    # Live gauges of a dead worker are dropped; its counters stay counted.
    from prometheus_client import multiprocess

    from core.metrics import process_identifier

    multiprocess.mark_process_dead(process_identifier(worker.pid))

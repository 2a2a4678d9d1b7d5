"""Liveness and readiness: /healthz answers while the process runs, /readyz checks each dependency."""

import logging
import threading
import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.health import readiness_checks
from core.metrics import metrics_access
from core.queues import queues_inspect

from .celery_app import app as celery_app

logger = logging.getLogger(__name__)


@require_GET
def healthz(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        conn.default_channel.client.ping()


# The project's own; each app adds its dependency in its AppConfig.ready() (core.health).
CHECKS = {"database": _check_database, "broker": _check_broker}


@require_GET
def readyz(request) -> JsonResponse:
    states = {}
    for name, check in {**CHECKS, **readiness_checks()}.items():
        try:
            check()
            states[name] = "ok"
        except Exception as error:  # a readiness probe reports every failure, whatever its kind
            logger.warning("readiness check failed: %s: %s", name, type(error).__name__)
            states[name] = f"failed: {type(error).__name__}"
    ready = all(state == "ok" for state in states.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": states}, status=200 if ready else 503)


# Each check broadcasts to every worker and waits about a second: one per process per few seconds,
# whatever the number of requests (the others wait for it and share its answer).
QUEUES_ANSWER_SECONDS = 5.0
_queues_answer: tuple[float, dict, int] | None = None
_queues_lock = threading.Lock()


@never_cache
@require_GET
def readyz_queues(request) -> JsonResponse:
    """200 unless work waits on a queue that no worker consumes (or the broker does not answer): 503 naming it.

    Kept apart from /readyz: a web process can still store every webhook then, and taking it out
    of the load balancer would refuse them too. This is for monitoring to alert on, read like
    /metrics (bearer METRICS_TOKEN, or loopback and private addresses when unset); the answer is
    up to QUEUES_ANSWER_SECONDS old.
    """
    refusal = metrics_access(request)
    if refusal:
        detail = (
            "A bearer token (METRICS_TOKEN) is required."
            if refusal == 401
            else ("Served to loopback and private addresses, or with METRICS_TOKEN.")
        )
        response = JsonResponse({"detail": detail}, status=refusal)
        if refusal == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    global _queues_answer
    with _queues_lock:
        if _queues_answer is None or time.monotonic() - _queues_answer[0] >= QUEUES_ANSWER_SECONDS:
            _queues_answer = (time.monotonic(), *_queues_check())
        _, body, status = _queues_answer
    return JsonResponse(body, status=status)


def _queues_check() -> tuple[dict, int]:
    try:
        states = queues_inspect(timeout=1.0)
    except Exception as error:  # a probe reports every failure, whatever its kind
        logger.warning("queue check failed: %s", type(error).__name__)
        return {"status": "failed", "error": f"broker: {type(error).__name__}"}, 503
    unconsumed = [state.name for state in states if state.unconsumed]
    queues = {
        state.name: {
            "depth": state.depth,
            "consumers": len(state.consumers),
            "state": "no worker consumes it" if state.unconsumed else "ok",
        }
        for state in states
    }
    if unconsumed:
        logger.warning("work waits on queues no worker consumes: %s", ",".join(unconsumed))
    body = {"status": "unconsumed" if unconsumed else "ok", "unconsumed": unconsumed, "queues": queues}
    return body, 503 if unconsumed else 200

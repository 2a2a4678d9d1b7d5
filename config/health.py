"""Liveness and readiness: /healthz answers while the process runs, /readyz checks each dependency."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.health import readiness_checks
from core.metrics import metrics_access
from core.queues import QueuesReading, queues_read

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


@never_cache
@require_GET
def readyz_queues(request) -> JsonResponse:
    """200 unless work waits on a queue that no worker consumes (or the broker does not answer): 503 naming it.

    Kept apart from /readyz: a web process can still store every webhook then, and taking it out
    of the load balancer would refuse them too. This is for monitoring to alert on, read like
    /metrics (core.metrics.metrics_access: METRICS_TOKEN, METRICS_ALLOWED_NETWORKS); the answer is
    up to core.queues.QUEUES_READING_SECONDS old (one broadcast per process however many requests).
    """
    refusal = metrics_access(request)
    if refusal:
        detail = (
            "A bearer token (METRICS_TOKEN) is required."
            if refusal == 401
            else "Not served to this address (see METRICS_ALLOWED_NETWORKS and METRICS_TOKEN)."
        )
        response = JsonResponse({"detail": detail}, status=refusal)
        if refusal == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, status = _queues_answer(queues_read())
    return JsonResponse(body, status=status)


def _queues_answer(reading: QueuesReading) -> tuple[dict, int]:
    if reading.error:
        return {"status": "failed", "error": f"broker: {reading.error}"}, 503
    queues = {
        state.name: {
            "depth": state.depth,
            "consumers": len(state.consumers),
            "state": "no worker consumes it" if state.unconsumed else "ok",
        }
        for state in reading.states
    }
    unconsumed = reading.unconsumed
    body = {"status": "unconsumed" if unconsumed else "ok", "unconsumed": unconsumed, "queues": queues}
    return body, 503 if unconsumed else 200

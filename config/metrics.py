"""The `/metrics` view: every process's counters and the apps' database gauges (core.metrics)."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from core.metrics import metrics_access, metrics_text


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = metrics_access(request)
    if refusal == 401:
        response = HttpResponse("A bearer token (METRICS_TOKEN) is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if refusal:
        return HttpResponse(
            "Metrics are not served to this address (see METRICS_ALLOWED_NETWORKS and METRICS_TOKEN).\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)

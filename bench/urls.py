"""The app's URLs plus the intake baseline: the least a webhook endpoint can do in this stack."""

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as app_urlpatterns

BASELINE_TABLE = "bench_baseline_delivery"


@csrf_exempt
def baseline_intake(request) -> HttpResponse:
    """Store the raw body as one row in the same PostgreSQL, answer 202."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BASELINE_TABLE} (body) VALUES (%s)", [request.body])  # noqa: S608
    return HttpResponse(b'{"status":"accepted"}', status=202, content_type="application/json")


urlpatterns = [*app_urlpatterns, path("bench/baseline/", baseline_intake)]

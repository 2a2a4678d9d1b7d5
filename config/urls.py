from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from webhooks.apis import webhook_not_found

from . import schema  # noqa: F401 - registers the webhook endpoint's description
from .health import healthz, readyz, readyz_queues
from .metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("webhooks/", include("webhooks.urls")),
    # Last under /webhooks/: whatever path no webhook URL matches gets a JSON 404, not a page.
    re_path(r"^webhooks/", webhook_not_found, name="webhook-not-found"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("readyz/queues", readyz_queues, name="readyz-queues"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's settings as a script of their own: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

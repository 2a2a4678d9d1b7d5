from django.urls import path

from .apis import AdvanceWebhookApi

app_name = "webhooks"

urlpatterns = [
    path("advance/", AdvanceWebhookApi.as_view(), name="advance"),
    # Bound to one source: the URL for a source that authenticates by HMAC (no token names it).
    path("advance/<slug:source_slug>/", AdvanceWebhookApi.as_view(), name="advance-source"),
]

from django.urls import path

from .apis import AdvanceWebhookApi

app_name = "webhooks"

urlpatterns = [
    path("advance/", AdvanceWebhookApi.as_view(), name="advance"),
    # Bound to one source: the URL for a source that authenticates by HMAC (no token names it).
    path("advance/<slug:source_slug>/", AdvanceWebhookApi.as_view(), name="advance-source"),
    # One URL per Advance webhook registration: the URL names the event (what Advance may not send).
    path(
        "advance/<slug:source_slug>/CustomInterviewEvent/<str:event_name>/",
        AdvanceWebhookApi.as_view(),
        {"event_type": "CustomInterviewEvent"},
        name="advance-source-interview-event",
    ),
    path("advance/<slug:source_slug>/<str:event_type>/", AdvanceWebhookApi.as_view(), name="advance-source-event"),
]

from django.urls import path

from .apis import AdvanceWebhookApi

app_name = "webhooks"

urlpatterns = [
    path("advance/", AdvanceWebhookApi.as_view(), name="advance"),
]

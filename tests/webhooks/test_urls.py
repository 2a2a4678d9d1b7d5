"""Every path under /webhooks/ answers JSON, whatever the method, including those no URL matches."""

import pytest
from django.test import Client

NOT_WEBHOOK_URLS = [
    "/webhooks/advance/%F2%9A%97%8D%F3%B6%9A%8Cl/",  # a source slug that is not a slug
    "/webhooks/advance/a%20b/",
    "/webhooks/advance/acme/x/y/z/w/",
    "/webhooks/advance",  # no redirect to the slash: a redirected POST would lose its body
    "/webhooks/",
    "/webhooks/other/thing",
]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("url", NOT_WEBHOOK_URLS)
def test_a_path_under_webhooks_that_no_url_matches_is_a_json_404(url, method):
    response = Client(enforce_csrf_checks=True).generic(
        method, url, data=b"{}", content_type="application/json", REMOTE_ADDR="203.0.113.7"
    )

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/webhooks/advance/" in response.json()["detail"]

"""The Content-Security-Policy header, as each kind of answer gets it (the browser tests check that
the pages load under it with no violation: tests/browser/test_content_security_policy.py)."""

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


@pytest.mark.django_db
def test_the_admin_runs_only_its_own_scripts_and_shows_previews_from_the_storage(admin_client):
    policy = directives(admin_client.get("/admin/"))

    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    endpoint = urlsplit(settings.STORAGES["default"]["OPTIONS"]["endpoint_url"])
    storage = f"{endpoint.scheme}://{endpoint.netloc}"
    assert policy["img-src"] == ["'self'", storage]
    assert policy["frame-src"] == ["'self'", storage]


@pytest.mark.django_db
def test_with_documents_on_this_server_the_previews_are_our_own(admin_client, filesystem_storage):
    policy = directives(admin_client.get("/admin/login/"))

    assert policy["img-src"] == ["'self'"]
    assert policy["frame-src"] == ["'self'"]


@pytest.mark.django_db
def test_the_webhook_endpoint_answers_without_a_policy(client):
    response = client.post("/webhooks/advance/", data=b"{}", content_type="application/json")

    assert response.status_code == 401
    assert "Content-Security-Policy" not in response


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_api_description_pages_have_no_inline_script_and_ask_no_other_site(client, url):
    response = client.get(url)

    page = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "googleapis" not in page and "https://" not in page
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    if url == "/api/redoc/":
        assert policy["worker-src"] == ["blob:"]
        assert policy["img-src"] == ["'self'", "data:", "https://cdn.redoc.ly/redoc/logo-mini.svg"]
    else:
        assert "worker-src" not in policy
        assert policy["img-src"] == ["'self'", "data:"]

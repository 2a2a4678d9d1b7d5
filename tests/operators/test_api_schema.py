"""The webhook endpoint's OpenAPI description and its browsable pages, served without any network."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_the_schema_describes_the_webhook_endpoint_and_its_answers(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    post = schema["paths"]["/webhooks/advance/"]["post"]
    assert {"202", "200", "400", "401", "413", "415"} <= set(post["responses"])
    assert "requestBody" in post
    assert "/webhooks/advance/{source_slug}/" in schema["paths"]
    assert "get" in schema["paths"]["/webhooks/advance/"]  # interview events by GET
    assert schema["components"]["securitySchemes"]["webhookToken"]["scheme"] == "bearer"
    components = schema["components"]["schemas"]
    request = components["AdvanceEvent"]["properties"]
    assert {"eventId", "eventType", "data"} <= set(request)
    event_types = components[request["eventType"]["allOf"][0]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert {"NewWorkItemVersionComplete", "InterviewLoadEvent", "CustomInterviewEvent"} <= set(event_types)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_browsable_pages_load_their_code_from_this_server(client, url):
    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    sources = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert sources, "no script or stylesheet found"
    for source in sources:
        assert source.startswith("/static/"), source
        assert finders.find(source.removeprefix("/static/")), f"{source} is not shipped"

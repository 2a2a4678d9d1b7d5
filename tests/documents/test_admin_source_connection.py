"""The sources' "Test connection" action logs in to Advance and reports what happened."""

import socket

import pytest
from django.urls import reverse

from sources.models import Source

pytestmark = pytest.mark.django_db


def test_connection(admin_client, *sources: Source) -> list[str]:
    response = admin_client.post(
        reverse("admin:sources_source_changelist"),
        {"action": "source_test_connection", "_selected_action": [source.pk for source in sources]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


# Not a test itself: pytest would collect it by its name.
test_connection.__test__ = False


def test_a_source_that_can_log_in_is_reported_as_such(admin_client, source, advance):
    messages = test_connection(admin_client, source)

    assert messages == [f"acme: logged in to Advance at {advance.auth_base_url}."]
    assert advance.login_count == 1


def test_a_refused_log_in_is_reported_with_advance_answer(admin_client, source, advance):
    source.set_principal_password("wrong password")
    source.save()

    [message] = test_connection(admin_client, source)

    assert message.startswith("acme: log-in at ") and "failed: log-in refused: HTTP 401" in message


def test_an_unreachable_advance_is_reported_with_the_network_error(admin_client, source):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    source.auth_base_url = f"http://127.0.0.1:{port}/auth"
    source.save()

    [message] = test_connection(admin_client, source)

    assert "failed: log-in failed: ConnectionError" in message
    assert "Connection refused" in message or "Max retries" in message


def test_the_action_is_offered_on_the_source_list(admin_client, source):
    response = admin_client.get(reverse("admin:sources_source_changelist"))

    assert 'value="source_test_connection"' in response.content.decode()


def test_the_check_is_a_service_that_says_whether_the_log_in_worked(source, advance):
    from documents.connection import source_connection_check

    worked = source_connection_check(source=source)
    source.set_principal_password("wrong password")
    source.save()
    refused = source_connection_check(source=source)

    assert (worked.ok, worked.error) == (True, "")
    assert refused.ok is False and refused.error.startswith("log-in refused: HTTP 401")
    assert len(advance.requests_for("/Authorize/ServicePrincipalLogIn")) == 2  # each check logs in afresh

"""Every list in the admin makes as many queries for thirty rows as for one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from documents.models import Document
from webhooks.models import Delivery
from webhooks.services import source_save, token_issue, token_revoke

from .helpers import delivery_make, document_make

ROWS = 30


def queries_for(client, url: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response


def assert_constant(client, url: str, add_rows, first) -> None:
    first()
    client.get(url)  # warm-up: whatever a first request caches
    one, response = queries_for(client, url)
    assert response.context["cl"].result_count == 1
    for number in range(1, ROWS):
        add_rows(number)
    many, response = queries_for(client, url)
    assert response.context["cl"].result_count == ROWS
    assert many == one, f"{url}: {one} queries for 1 row, {many} for {ROWS}"


@pytest.fixture
def other_source(db):
    source, _ = source_save(
        slug="globex",
        api_base_url="https://globex.example/api",
        auth_base_url="https://globex.example/auth",
        client_name="globex",
        principal_name="sync",
        principal_password="secret",
    )
    return source


@pytest.mark.django_db
def test_the_document_list_does_not_grow_in_queries_with_rows(admin_client, source, other_source):
    statuses = [Document.Status.STORED, Document.Status.PENDING, Document.Status.FAILED, Document.Status.DEAD]

    def add(number: int) -> None:
        document_make(
            other_source if number % 2 else source,
            work_item_name=f"Work item {number}",
            work_item_id=f"wi-{number}",
            version_id=f"v-{number}",
            document_id=f"doc-{number}",
            status=statuses[number % len(statuses)],
            content_type="image/png" if number % 3 else "application/pdf",
        )

    assert_constant(admin_client, reverse("admin:documents_document_changelist"), add, lambda: document_make(source))


@pytest.mark.django_db
def test_the_delivery_log_does_not_grow_in_queries_with_rows(admin_client, source, other_source):
    statuses = [Delivery.Status.PROCESSED, Delivery.Status.FAILED, Delivery.Status.REJECTED, Delivery.Status.ACCEPTED]

    def add(number: int) -> None:
        delivery_make(
            other_source if number % 2 else source,
            event_id=f"evt-{number}",
            status=statuses[number % len(statuses)],
            age=timedelta(hours=number),
        )

    assert_constant(admin_client, reverse("admin:webhooks_delivery_changelist"), add, lambda: delivery_make(source))


@pytest.mark.django_db
def test_the_token_list_does_not_grow_in_queries_with_rows(admin_client, source, other_source):
    now = timezone.now()

    def add(number: int) -> None:
        token, _ = token_issue(
            source=other_source if number % 2 else source,
            name=f"token {number}",
            expires_at=now + timedelta(days=number) if number % 3 else None,
        )
        if number % 5 == 0:
            token_revoke(token=token)

    assert_constant(
        admin_client,
        reverse("admin:webhooks_webhooktoken_changelist"),
        add,
        lambda: token_issue(source=source, name="first"),
    )


@pytest.mark.django_db
def test_the_source_list_does_not_grow_in_queries_with_rows(admin_client, source):
    def add(number: int) -> None:
        added, _ = source_save(
            slug=f"tenant-{number}",
            api_base_url=f"https://tenant{number}.example/api",
            auth_base_url=f"https://tenant{number}.example/auth",
            client_name="client",
            principal_name="sync",
            principal_password="secret",
        )
        token_issue(source=added, name="webhook")

    assert_constant(admin_client, reverse("admin:webhooks_source_changelist"), add, lambda: None)


@pytest.mark.django_db
def test_the_work_item_list_does_not_grow_in_queries_with_rows(admin_client, source, other_source):
    def add(number: int) -> None:
        for version in range(number % 3 + 1):
            document_make(
                other_source if number % 2 else source,
                work_item_name=f"Work item {number}",
                work_item_id=f"wi-{number}",
                version_id=f"v-{number}-{version}",
                document_id=f"doc-{number}-{version}",
            )

    assert_constant(admin_client, reverse("admin:documents_workitem_changelist"), add, lambda: document_make(source))


@pytest.mark.django_db
def test_the_version_list_does_not_grow_in_queries_with_rows(admin_client, source):
    def add(number: int) -> None:
        document_make(source, work_item_id=f"wi-n{number}", version_id=f"v-n{number}", document_id=f"d-{number}")

    assert_constant(
        admin_client, reverse("admin:documents_workitemversion_changelist"), add, lambda: document_make(source)
    )

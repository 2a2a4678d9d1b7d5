"""Every list of the webhooks admin makes as many queries for thirty rows as for one."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sources.services import source_save
from tests.factories import delivery_make
from tests.support.queries import assert_constant
from webhooks.models import Delivery
from webhooks.services import token_issue, token_revoke


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

    assert_constant(admin_client, reverse("admin:sources_source_changelist"), add, lambda: None)

"""Every list of the documents admin makes as many queries for thirty rows as for one."""

import pytest
from django.urls import reverse

from documents.models import Document
from tests.factories import document_make
from tests.support.queries import assert_constant


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

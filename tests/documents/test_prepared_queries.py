"""The sync's statements compiled once (core/prepared.py) read and write what the ORM would."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.prepared import PreparedQuery, row_update
from documents.models import Document, WorkItemVersion
from documents.post_processing import POST_PROCESSING_WAITING
from tests.factories import document_make

pytestmark = pytest.mark.django_db

read = PreparedQuery(lambda pk: Document.objects.select_related("version__work_item", "source").filter(pk=pk))
waiting = PreparedQuery(lambda pk: WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=pk))


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_a_prepared_read_gives_the_instance_and_its_related_objects_as_the_orm_does(source):
    document = document_make(source, status=Document.Status.PENDING, due_at=timezone.now(), url="https://x/y?a=1")
    other = document_make(source, document_id="doc-2")

    for wanted in (document, other, document):  # the same compiled query, each call its own value
        expected = Document.objects.select_related("version__work_item", "source").get(pk=wanted.pk)
        with_prepared = read.first(wanted.pk)
        assert fields(with_prepared) == fields(expected)
        assert not with_prepared._state.adding and with_prepared._state.db == "default"
        with CaptureQueriesContext(connection) as queries:  # the related objects came with the row
            related = (with_prepared.version, with_prepared.version.work_item, with_prepared.source)
        assert len(queries) == 0
        assert [fields(r) for r in related] == [
            fields(expected.version),
            fields(expected.version.work_item),
            fields(expected.source),
        ]

    assert read.first(10**12) is None


def test_a_prepared_exists_follows_the_row_as_it_changes(source):
    version = document_make(source).version
    WorkItemVersion.objects.filter(pk=version.pk).update(post_processing_status="pending")
    assert waiting.exists(version.pk) is True
    WorkItemVersion.objects.filter(pk=version.pk).update(post_processing_status="completed")
    assert waiting.exists(version.pk) is False
    assert waiting.exists(10**12) is False


@pytest.mark.django_db(transaction=True)
def test_each_thread_runs_the_query_compiled_for_it_on_its_own_connection(source):
    documents = [document_make(source, document_id=f"d{n}") for n in range(4)]
    found: dict[int, int | None] = {}

    def in_thread(document) -> None:
        try:
            for _ in range(20):
                found[document.pk] = getattr(read.first(document.pk), "pk", None)
        finally:
            connection.close()

    threads = [threading.Thread(target=in_thread, args=(document,)) for document in documents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == {document.pk: document.pk for document in documents}


def test_a_prepared_query_with_no_place_or_two_for_its_value_is_refused(source):
    with pytest.raises(ValueError, match="places for its value"):
        PreparedQuery(lambda pk: Document.objects.filter(pk=5)).first(1)
    with pytest.raises(ValueError, match="places for its value"):
        PreparedQuery(lambda pk: Document.objects.filter(pk=pk, attempts=pk)).first(1)


def test_row_update_writes_what_the_orms_update_writes_and_only_where_every_condition_holds(source):
    token = uuid.uuid4()
    document = document_make(source, status=Document.Status.SYNCING, lease_token=token)
    twin = document_make(source, document_id="twin", status=Document.Status.SYNCING, lease_token=token)
    synced = timezone.now() - timedelta(minutes=3)

    assert row_update(Document, {"pk": document.pk, "lease_token": uuid.uuid4()}, status="stored") == 0
    written = row_update(
        Document,
        {"pk": document.pk, "lease_token": token},
        status=Document.Status.STORED,
        lease_token=None,
        lease_expires_at=None,
        synced_at=synced,
        size=123,
        last_error="",
    )

    assert written == 1
    document.refresh_from_db()
    assert (document.status, document.lease_token, document.synced_at, document.size) == ("stored", None, synced, 123)
    twin.refresh_from_db()
    assert (twin.status, twin.lease_token) == ("syncing", token)  # another row, untouched

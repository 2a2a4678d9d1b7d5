"""The dashboard's counts table, kept by PostgreSQL's triggers: after every way rows are written
(the ORM's save and delete, queryset.update, bulk_create, COPY and plain SQL), its sums are the
rows' real counts, per source; a user of some sources reads only theirs."""

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Sum
from django.urls import reverse

from documents.models import Document, DocumentText, StatusCount
from documents.selectors import dashboard_figures, status_counts
from documents.status_counts import LOCK, REBUILD_SQL, status_counts_compact, status_counts_rebuild
from sources.access import EVERY_SOURCE, SourceScope
from sources.models import SourceAccess
from sources.services import source_access_grant
from tests.documents.test_dashboard import figure
from tests.factories import delivery_make, document_make, source_make
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

Kind = StatusCount.Kind


def counted() -> dict[tuple[str, int | None, str], int]:
    """The rows' real counts, by COUNT over each table: {(kind, source, status): n}."""
    queries = {
        Kind.DOCUMENT: "SELECT source_id, status, count(*) FROM documents_document GROUP BY 1, 2",
        Kind.TEXT: "SELECT d.source_id, t.status, count(*) FROM documents_documenttext t "
        "JOIN documents_document d ON d.id = t.document_id GROUP BY 1, 2",
        Kind.EVENT: "SELECT source_id, status, count(*) FROM webhooks_delivery WHERE status = 'failed' GROUP BY 1, 2",
    }
    result = {}
    with connection.cursor() as cursor:
        for kind, sql in queries.items():
            cursor.execute(sql)
            result.update({(kind, source, status): n for source, status, n in cursor.fetchall()})
    return result


def summed() -> dict[tuple[str, int | None, str], int]:
    """What the counts table says: its rows summed per (kind, source, status), zeros left out."""
    rows = StatusCount.objects.values_list("kind", "source_id", "status").annotate(n=Sum("count")).order_by()
    return {(kind, source, status): n for kind, source, status, n in rows if n}


def documents_of(source, count: int, *, status: str, prefix: str) -> list[Document]:
    return [
        document_make(source, work_item_id=f"{prefix}-{n}", version_id=f"{prefix}-v{n}", document_id="d", status=status)
        for n in range(count)
    ]


@pytest.fixture
def two_sources(source):
    return source, source_make("globex")


def test_documents_saved_updated_and_deleted_through_the_orm_are_counted_per_source_and_status(two_sources):
    acme, globex = two_sources
    pending = documents_of(acme, 3, status=Document.Status.PENDING, prefix="a")
    documents_of(globex, 2, status=Document.Status.STORED, prefix="g")
    pending[0].status = Document.Status.FAILED
    pending[0].save()
    pending[1].delete()

    assert summed() == counted()
    assert summed()[(Kind.DOCUMENT, acme.pk, Document.Status.FAILED)] == 1
    assert summed()[(Kind.DOCUMENT, acme.pk, Document.Status.PENDING)] == 1
    assert summed()[(Kind.DOCUMENT, globex.pk, Document.Status.STORED)] == 2


def test_a_queryset_update_and_bulk_create_are_counted_once_per_statement(two_sources):
    acme, globex = two_sources
    documents = documents_of(acme, 6, status=Document.Status.PENDING, prefix="a")
    version = documents[0].version
    before = StatusCount.objects.count()

    Document.objects.bulk_create(
        [Document(version=version, source=globex, advance_id=f"bulk-{n}", status="pending") for n in range(50)]
    )
    Document.objects.filter(source=acme).update(status=Document.Status.SYNCING)
    Document.objects.filter(source=acme, pk__in=[d.pk for d in documents[:2]]).update(status=Document.Status.DEAD)
    Document.objects.filter(source=acme).update(lease_token=None)  # no status changed: nothing added
    Document.objects.filter(advance_id__startswith="bulk-").delete()

    assert summed() == counted()
    # One row per (source, status) a statement changed: bulk_create 1, the updates 2 and 2, the
    # lease update none; the delete 1 (the ORM's DELETE by primary keys is one statement here).
    assert StatusCount.objects.count() - before == 6


def test_copy_and_plain_sql_are_counted(two_sources):
    acme, globex = two_sources
    version = document_make(acme).version
    lines = "".join(
        f"{version.pk}\t{(acme if n % 3 else globex).pk}\tcopied-{n}\t{['pending', 'failed', 'stored'][n % 3]}\n"
        for n in range(300)
    )
    columns = "version_id, source_id, advance_id, status, name, url, filename, content_type, sha256, storage_key, "
    columns += "storage_version_id, retention_mode, attempts, last_error, created_at, updated_at"
    defaults = "'', '', '', '', '', '', '', '', 0, '', now(), now()"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE copied (version_id bigint, source_id bigint, advance_id text, status text)"
        )
        with cursor.cursor.copy("COPY copied FROM STDIN") as copy:
            copy.write(lines.encode())
        cursor.execute(f"INSERT INTO documents_document ({columns}) SELECT *, {defaults} FROM copied")  # noqa: S608
        with cursor.cursor.copy(
            "COPY documents_document (version_id, source_id, advance_id, status, name, url, filename, content_type,"
            " sha256, storage_key, storage_version_id, retention_mode, attempts, last_error, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for n in range(200):
                copy.write_row(
                    [version.pk, globex.pk, f"raw-{n}", "dead", "", "", "", "", "", "", "", "", 0, "", "now", "now"]
                )
        cursor.execute("UPDATE documents_document SET status = 'pending' WHERE status = 'failed' AND id % 2 = 0")
        cursor.execute("DELETE FROM documents_document WHERE advance_id LIKE 'raw-1%'")

    assert summed() == counted()
    assert summed()[(Kind.DOCUMENT, globex.pk, Document.Status.DEAD)] == 200 - 111


def test_texts_count_under_their_documents_source_whatever_their_own_says(two_sources):
    acme, globex = two_sources
    stored = documents_of(acme, 4, status=Document.Status.STORED, prefix="a") + documents_of(
        globex, 3, status=Document.Status.STORED, prefix="g"
    )
    # Extraction's own paths: bulk_create of awaiting texts (no source yet), then each written.
    DocumentText.objects.bulk_create([DocumentText(document=document) for document in stored])
    DocumentText.objects.filter(pk=stored[0].pk).update(status=DocumentText.Status.FAILED, source_id=acme.pk)
    text = DocumentText.objects.get(pk=stored[4].pk)
    text.status, text.source_id = DocumentText.Status.EXTRACTED, globex.pk
    text.save()
    DocumentText.objects.filter(pk=stored[5].pk).delete()
    stored[6].delete()  # the document and, first, its text

    assert summed() == counted()
    counts = status_counts()
    assert counts[(Kind.TEXT, "awaiting")] == 3 and counts[(Kind.TEXT, "failed")] == 1
    assert counts[(Kind.TEXT, "extracted")] == 1


def test_failed_events_are_counted_and_an_accepted_delivery_adds_no_row(two_sources):
    acme, globex = two_sources
    before = StatusCount.objects.count()
    accepted = [delivery_make(acme, status=Delivery.Status.ACCEPTED, event_id=f"e{n}") for n in range(5)]
    delivery_make(globex, status=Delivery.Status.REJECTED, event_id="")

    assert StatusCount.objects.count() == before  # the intake's INSERTs ran no trigger

    Delivery.objects.filter(pk__in=[d.pk for d in accepted[:3]]).update(status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk=accepted[0].pk).update(status=Delivery.Status.ACCEPTED)  # replayed
    Delivery.objects.filter(pk=accepted[1].pk).update(attempts=5)  # still failed: nothing added
    Delivery.objects.bulk_create(
        [Delivery(source=globex, event_id=f"g{n}", status=Delivery.Status.FAILED, http_status=202) for n in range(4)]
    )
    Delivery.objects.filter(event_id="g0").delete()

    assert summed() == counted()
    assert status_counts()[(Kind.EVENT, "failed")] == 2 + 3


def test_a_rolled_back_change_leaves_the_counts_as_they_were(source):
    documents_of(source, 2, status=Document.Status.PENDING, prefix="a")
    with pytest.raises(RuntimeError), transaction.atomic():
        Document.objects.update(status=Document.Status.FAILED)
        raise RuntimeError("rolled back")

    assert summed() == counted() == {(Kind.DOCUMENT, source.pk, "pending"): 2}


def test_compacting_leaves_one_row_per_group_with_the_same_sums(two_sources):
    acme, globex = two_sources
    documents = documents_of(acme, 5, status=Document.Status.PENDING, prefix="a")
    documents_of(globex, 2, status=Document.Status.FAILED, prefix="g")
    for document in documents:
        Document.objects.filter(pk=document.pk).update(status=Document.Status.STORED)
    before = summed()

    rows = status_counts_compact()

    assert rows > StatusCount.objects.count()
    assert StatusCount.objects.count() == len(before) == 2  # acme stored, globex failed: the zeros went
    assert summed() == before == counted()


def test_counted_again_from_the_rows_the_counts_are_the_same(two_sources):
    acme, globex = two_sources
    documents_of(acme, 3, status=Document.Status.DEAD, prefix="a")
    delivery_make(globex, status=Delivery.Status.FAILED, event_id="bad")
    StatusCount.objects.filter(kind=Kind.DOCUMENT).delete()  # lost (a trigger disabled by hand)

    status_counts_rebuild()

    assert summed() == counted()
    assert StatusCount.objects.count() == 2


def test_a_user_of_some_sources_reads_only_their_counts(client, two_sources):
    acme, globex = two_sources
    documents_of(acme, 2, status=Document.Status.FAILED, prefix="a")
    documents_of(globex, 3, status=Document.Status.FAILED, prefix="g")
    delivery_make(acme, status=Delivery.Status.FAILED, event_id="a-bad")
    for n in range(4):
        delivery_make(globex, status=Delivery.Status.FAILED, event_id=f"g-bad-{n}")
    staff = get_user_model().objects.create_user("ann", password="x", is_staff=True)
    source_access_grant(source=globex, user=staff, level=SourceAccess.Level.MANAGE)
    client.force_login(staff)

    page = client.get(reverse("admin:index")).content.decode()
    only_acme = SourceScope(every=False, ids=frozenset({acme.pk}))

    assert (figure(page, "failed"), figure(page, "events-failed")) == ("3", "4")
    figures = dashboard_figures(scope=only_acme, events_scope=only_acme)
    assert (figures.failed, figures.events_failed) == (2, 1)
    figures = dashboard_figures(scope=EVERY_SOURCE, events_scope=SourceScope(every=False, ids=frozenset()))
    assert (figures.failed, figures.events_failed) == (5, 0)


def test_truncating_a_table_forgets_its_counts_only(source):
    documents = documents_of(source, 2, status=Document.Status.STORED, prefix="a")
    DocumentText.objects.bulk_create([DocumentText(document=document) for document in documents])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the texts' foreign keys checked before TRUNCATE
        cursor.execute("TRUNCATE documents_documenttext")

    assert summed() == counted() == {(Kind.DOCUMENT, source.pk, "stored"): 2}


def test_the_migration_fills_the_table_as_a_rebuild_counts_it_again():
    fill = importlib.import_module("documents.migrations.0019_status_counts_fill")

    def words(sql: str) -> list[str]:
        return sql.split()

    assert [words(sql) for sql in fill.FILL_SQL] == [words(sql) for sql in REBUILD_SQL.values()]
    assert fill.LOCK == LOCK

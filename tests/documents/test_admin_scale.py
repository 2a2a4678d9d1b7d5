"""What keeps the admin's lists fast at a million documents (bench/scale.py): long lists say "about N"
from the planner's estimate instead of counting every row, the date hierarchy offers the years
between the first and last dates without reading every row's, the delivery log's event types come
from the registry, counts per row are made for the page's rows, and new indexes are built without
locking writes."""

import importlib
import io
from datetime import datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

import core.admin
from documents.models import Document, WorkItem, WorkItemVersion
from tests.factories import delivery_make, document_make
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def test_a_long_list_says_about_how_many_from_the_planner_and_counts_nothing(admin_client, source, monkeypatch):
    for n in range(3):
        delivery_make(source, event_id=f"evt-{n}")
    monkeypatch.setattr(core.admin, "COUNT_ESTIMATED_OVER", 0)  # every list is "long"

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()

    assert 'class="count-estimated"' in page
    assert "about " in page
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "webhooks_delivery" in q["sql"]]


def test_a_short_list_is_counted_exactly(admin_client, source):
    for n in range(3):
        delivery_make(source, event_id=f"evt-{n}")

    page = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()

    assert "count-estimated" not in page
    assert "3 deliveries" in page


def test_the_documents_list_says_about_how_many_when_long(admin_client, source, monkeypatch):
    document_make(source)
    document_make(source, document_id="doc-2", name="Second")
    monkeypatch.setattr(core.admin, "COUNT_ESTIMATED_OVER", 0)

    page = admin_client.get(reverse("admin:documents_document_changelist")).content.decode()

    assert 'class="count-estimated"' in page
    assert "Example Contract" in page and "Second" in page


def test_the_work_items_and_versions_lists_say_about_how_many_when_long(admin_client, source, monkeypatch):
    document_make(source)
    monkeypatch.setattr(core.admin, "COUNT_ESTIMATED_OVER", 0)

    for url in ("admin:documents_workitem_changelist", "admin:documents_workitemversion_changelist"):
        assert 'class="count-estimated"' in admin_client.get(reverse(url)).content.decode()


def test_the_date_hierarchy_offers_every_year_between_the_first_and_last_without_reading_each_row(admin_client, source):
    old = document_make(source, document_id="old", name="Old")
    new = document_make(source, document_id="new", name="New")
    spring = document_make(source, document_id="spring", name="Spring")
    Document.objects.filter(pk=spring.pk).update(created_at=timezone.make_aware(datetime(2025, 3, 9)))
    Document.objects.filter(pk=old.pk).update(created_at=timezone.make_aware(datetime(2023, 5, 2)))
    Document.objects.filter(pk=new.pk).update(created_at=timezone.make_aware(datetime(2025, 7, 9)))

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse("admin:documents_document_changelist")).content.decode()
    sql = [query["sql"] for query in queries]  # before the next request empties the log
    months = admin_client.get(reverse("admin:documents_document_changelist") + "?created_at__year=2025")

    for year in ("2023", "2024", "2025"):  # 2024 holds none: offered all the same, it lists nothing
        assert f"?created_at__year={year}" in page
    assert sql and not [q for q in sql if "DISTINCT" in q and "DATE_TRUNC" in q.upper()]
    assert len([q for q in sql if "MIN(" in q and "created_at" in q]) == 1  # the bounds, read once
    listed = months.content.decode()
    offered = [month for month in range(1, 13) if f"created_at__month={month}&" in listed]
    assert offered == [3, 4, 5, 6, 7]  # from the first to the last of the year's, April and May holding none


def _created(document: Document, when: datetime, **fields) -> None:
    Document.objects.filter(pk=document.pk).update(created_at=timezone.make_aware(when), **fields)


def test_a_counted_list_filtered_by_another_date_offers_its_own_rows_dates_read_with_its_count(admin_client, source):
    # Created long ago, synced this week (a late retry): the only row the filter finds.
    late = document_make(source, document_id="late", name="Late")
    _created(late, datetime(2023, 5, 2, 12), synced_at=timezone.now())
    early = document_make(source, document_id="early", name="Early")
    _created(early, datetime(2025, 7, 9, 12), synced_at=timezone.make_aware(datetime(2025, 7, 9, 13)))
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    url = reverse("admin:documents_document_changelist") + "?" + urlencode({"synced_at__gte": str(today)})

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(url).content.decode()

    assert "created_at__day=2" in page and "created_at__year=2025" not in page  # May 2, 2023: its own day
    bounds = [q["sql"] for q in queries if "MIN(" in q["sql"] and "created_at" in q["sql"]]
    # Read with the list's count, from the rows the filter finds: not from the ends of the date's index.
    assert len(bounds) == 1 and "COUNT(" in bounds[0] and "synced_at" in bounds[0]


def test_a_long_filtered_list_offers_the_dates_of_every_row_the_user_sees_within_the_one_chosen(
    admin_client, source, monkeypatch
):
    _created(document_make(source, document_id="old", name="Old"), datetime(2023, 5, 2, 12))
    _created(document_make(source, document_id="new", name="New"), datetime(2025, 7, 9, 12))
    _created(document_make(source, document_id="failed", status=Document.Status.FAILED), datetime(2024, 3, 1, 12))
    monkeypatch.setattr(core.admin, "COUNT_ESTIMATED_OVER", 0)  # every list is "long": its length estimated
    url = reverse("admin:documents_document_changelist") + "?status__exact=failed"

    years = admin_client.get(url).content.decode()
    months = admin_client.get(url + "&created_at__year=2025").content.decode()

    # The failed document is of 2024; the years of every document are offered (2023 and 2025 list none).
    assert all(f"created_at__year={year}" in years for year in (2023, 2024, 2025))
    offered = [month for month in range(1, 13) if f"created_at__month={month}&" in months]
    assert offered == [1, 2, 3, 4, 5, 6, 7]  # within 2025, up to the last document's month


def test_the_delivery_log_date_hierarchy_and_event_types_read_no_distinct_values(admin_client, source):
    delivery_make(source, event_id="a", age=timedelta(days=400))
    delivery_make(source, event_id="b")

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    sql = [query["sql"] for query in queries]  # before the next request empties the log
    filtered = admin_client.get(
        reverse("admin:webhooks_delivery_changelist") + "?event_type=NewWorkItemVersionComplete"
    )

    assert sql and not [q for q in sql if "DISTINCT" in q]
    assert 'class="sortable column-received' in page and 'class="sortable column-event_type' not in page
    forced = admin_client.get(reverse("admin:webhooks_delivery_changelist") + "?o=4")  # event id, by hand
    assert forced.status_code == 200 and [d.event_id for d in forced.context["cl"].result_list] == ["b", "a"]
    assert "?event_type=NewWorkItemVersionComplete" in page  # a registered event type, offered
    assert f"?received_at__year={timezone.localdate().year}" in page
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 2


def test_counts_per_row_are_right_and_made_for_the_page_only(admin_client, source):
    document_make(source, version_id="v-1", document_id="d1")
    document_make(source, version_id="v-1", document_id="d2")
    document_make(source, version_id="v-2", document_id="d3")

    versions = admin_client.get(reverse("admin:documents_workitemversion_changelist"))
    items = admin_client.get(reverse("admin:documents_workitem_changelist"))

    assert sorted(v.document_count for v in versions.context["cl"].result_list) == [1, 2]
    assert [w.version_count for w in items.context["cl"].result_list] == [2]
    assert 'class="sortable column-document_count' not in versions.content.decode()  # counting all to sort


@pytest.mark.parametrize("model", [WorkItem, WorkItemVersion])
def test_a_deep_page_counts_per_row_for_its_own_rows_only(admin_client, source, monkeypatch, model):
    for n in range(3):
        document_make(source, work_item_id=f"wi-{n}", version_id=f"v-{n}", document_id=f"d-{n}")
    monkeypatch.setattr(admin.site.get_model_admin(model), "list_per_page", 1)
    changelist = f"admin:documents_{model._meta.model_name}_changelist"

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse(changelist) + "?p=3")

    assert len(page.context["cl"].result_list) == 1
    counting = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "GROUP BY" in q["sql"]]
    # The page's rows read by their keys, with their counts; the rows skipped to reach them are keys only.
    assert counting and all("OFFSET" not in sql for sql in counting)


@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY refuses to run in a transaction
@pytest.mark.parametrize(
    ("name", "indexes"),
    [
        ("0012_list_order_indexes", ["work_item_updated"]),  # and version_created, replaced by 0021
        ("0013_dashboard_indexes", ["document_gave_up", "document_status_created"]),
        (
            "0020_list_sort_indexes",
            [
                "document_sort_name",
                "document_sort_size",
                "document_sort_status",
                "document_sort_type",
                "version_documents_from",
                "version_sort_advance_id",
                "version_sort_completed",
                "version_sort_login",
                "version_sort_post_processing",
                "version_sort_recorded_by",
                "work_item_sort_advance_id",
                "work_item_sort_legal_hold",
                "work_item_sort_name",
            ],
        ),
    ],
)
def test_new_indexes_are_built_concurrently_on_postgresql(name, indexes):
    migration = importlib.import_module(f"documents.migrations.{name}").Migration
    out = io.StringIO()

    call_command("sqlmigrate", "documents", name[:4], stdout=out)

    assert migration.atomic is False
    assert all(isinstance(operation, AddIndexConcurrently) for operation in migration.operations)
    assert out.getvalue().count("CREATE INDEX CONCURRENTLY") == len(migration.operations)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [indexes])
        assert sorted(row[0] for row in cursor.fetchall()) == indexes


@pytest.mark.django_db(transaction=True)  # CREATE and DROP INDEX CONCURRENTLY refuse to run in a transaction
def test_the_versions_order_index_is_replaced_by_one_with_the_work_item_without_locking():
    migration = importlib.import_module("documents.migrations.0021_version_created_work_item").Migration
    out = io.StringIO()

    call_command("sqlmigrate", "documents", "0021", stdout=out)

    assert migration.atomic is False
    assert (
        'CREATE INDEX CONCURRENTLY "version_created_work_item" ON "documents_workitemversion" ("created_at", "id")'
        ' INCLUDE ("work_item_id")' in out.getvalue()
    )
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "version_created"' in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'version_created%%'")
        assert [row[0] for row in cursor.fetchall()] == ["version_created_work_item"]


def test_the_dashboard_figures_need_no_count_of_every_stored_document(admin_client, source):
    document_make(source, document_id="s1")
    document_make(source, document_id="p1", status=Document.Status.PENDING)
    document_make(source, document_id="f1", status=Document.Status.FAILED)

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse("admin:index")).content.decode()

    assert 'data-figure="synced-today">1<' in page
    assert 'data-figure="failed">1<' in page
    assert 'data-figure="pending">1<' in page
    counted = [q["sql"] for q in queries if 'FROM "documents_document"' in q["sql"] and "COUNT(" in q["sql"]]
    # Each over an index's range (the statuses other than stored, the week's syncs), none over all.
    assert counted and all(" IN (" in sql.split("WHERE")[-1] or "synced_at" in sql for sql in counted)


def test_a_long_list_serves_its_first_pages_and_a_deeper_page_number_shows_the_last_of_them(
    admin_client, source, monkeypatch
):
    for n in range(5):
        delivery_make(source, event_id=f"evt-{n}", age=timedelta(hours=5 - n))  # evt-4 the newest
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_delivery")  # the planner's estimate: the 5 rows
    monkeypatch.setattr(core.admin, "COUNT_ESTIMATED_OVER", 0)
    monkeypatch.setattr(core.admin.EstimatedCountPaginator, "paged_rows_max", 2)
    monkeypatch.setattr(admin.site.get_model_admin(Delivery), "list_per_page", 1)
    url = reverse("admin:webhooks_delivery_changelist")

    deep = admin_client.get(url + "?p=4")
    last = admin_client.get(url + "?p=2")

    assert deep.status_code == 200
    assert [d.event_id for d in deep.context["cl"].result_list] == ["evt-3"]  # page 2 of 2 served
    assert [d.event_id for d in last.context["cl"].result_list] == ["evt-3"]
    page = deep.content.decode()
    assert "the first 2 pages are listed" in page and "about 5 deliveries" in page


SORTED_BY_AN_INDEX = (
    [
        ("admin:documents_document_changelist", column)
        for column in ("document_name", "type_display", "size_display", "status_badge")
    ]
    + [("admin:documents_workitem_changelist", column) for column in ("name", "advance_id", "legal_hold", "updated_at")]
    + [
        ("admin:documents_workitemversion_changelist", column)
        for column in ("advance_id", "completed_at", "created_by_login", "recorded_by", "post_processing_badge")
    ]
)


@pytest.mark.parametrize(("changelist", "column"), SORTED_BY_AN_INDEX)
@pytest.mark.parametrize("direction", ["", "-"])
def test_a_list_sorted_by_a_column_either_way_is_read_in_order_from_an_index(
    admin_client, source, changelist, column, direction
):
    document_make(source)
    url = reverse(changelist)
    number = admin_client.get(url).context["cl"].list_display.index(column)

    keys = admin_client.get(f"{url}?o={direction}{number}").context["cl"].queryset.values_list("pk", flat=True)[:100]
    with connection.cursor() as cursor:  # the test's transaction: undone after it
        for method in ("sort", "incremental_sort", "seqscan", "bitmapscan"):
            cursor.execute(f"SET LOCAL enable_{method} = off")  # discouraged: taken only where no index serves
        plan = keys.explain()

    assert "Index" in plan and "Sort" not in plan, plan


def test_a_list_sorted_by_a_column_breaks_ties_by_the_key_in_the_columns_direction(admin_client, source):
    first, second = document_make(source, document_id="a"), document_make(source, document_id="b")
    failed = document_make(source, document_id="c", status=Document.Status.FAILED)
    url = reverse("admin:documents_document_changelist")
    number = admin_client.get(url).context["cl"].list_display.index("status_badge")

    ascending = admin_client.get(f"{url}?o={number}").context["cl"].result_list
    descending = admin_client.get(f"{url}?o=-{number}").context["cl"].result_list

    assert [d.pk for d in ascending] == [failed.pk, first.pk, second.pk]
    assert [d.pk for d in descending] == [second.pk, first.pk, failed.pk]


def test_a_list_sorted_by_a_relation_keeps_djangos_order(admin_client, source):
    # The column sorts by the related model's own order (a work item's, newest first): not the
    # model's own column, whose direction the key could follow.
    versions = [document_make(source, version_id=f"v-{n}", document_id=f"d-{n}").version for n in range(2)]
    url = reverse("admin:documents_workitemversion_changelist")
    number = admin_client.get(url).context["cl"].list_display.index("work_item")

    listed = admin_client.get(f"{url}?o={number}").context["cl"].result_list

    assert [v.pk for v in listed] == [versions[1].pk, versions[0].pk]  # one work item: by the key, descending


@pytest.mark.parametrize("model", [Document, WorkItem, WorkItemVersion, Delivery])
def test_a_history_page_lists_its_log_entries_not_rows_of_the_list(admin_client, admin_user, source, model):
    document = document_make(source)
    row = {Document: document, WorkItem: document.version.work_item, WorkItemVersion: document.version}.get(
        model
    ) or delivery_make(source, event_id="evt-1")
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(model),
        object_id=str(row.pk),
        object_repr=str(row),
        action_flag=CHANGE,
        change_message="Checked by hand",
    )
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_history", args=[row.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert [entry.change_message for entry in response.context["action_list"]] == ["Checked by hand"]

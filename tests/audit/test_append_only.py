"""The audit log cannot be altered: the admin offers no add, change or delete to anyone, and
PostgreSQL's trigger refuses UPDATE, DELETE and TRUNCATE, also in a superuser's raw SQL."""

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AccessRecord, ChangeRecord

pytestmark = pytest.mark.django_db

TABLES = ["audit_accessrecord", "audit_changerecord"]


@pytest.fixture
def records(source) -> dict[str, int]:
    access = AccessRecord.objects.create(action="view", username="ann", status=200)
    change = ChangeRecord.objects.filter(source=source).first()  # source_save recorded its creation
    assert change is not None
    return {"audit_accessrecord": access.pk, "audit_changerecord": change.pk}


def refused(sql: str, params=()) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
        # As on a production database: the test database lets the flush between tests truncate
        # (tests/conftest.py), which this transaction takes back.
        cursor.execute("SET LOCAL audit.truncate_allowed = 'off'")
        cursor.execute(sql, params)
    return str(raised.value)


def test_the_database_role_of_these_tests_is_a_superuser():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (True,)


@pytest.mark.parametrize("table", TABLES)
def test_update_is_refused_in_raw_sql(records, table):
    column = "username"

    error = refused(f"UPDATE {table} SET {column} = 'mallory' WHERE id = %s", [records[table]])  # noqa: S608

    assert "append-only" in error
    assert not AccessRecord.objects.filter(username="mallory").exists()
    assert not ChangeRecord.objects.filter(username="mallory").exists()


@pytest.mark.parametrize("table", TABLES)
def test_delete_is_refused_in_raw_sql(records, table):
    error = refused(f"DELETE FROM {table}")  # noqa: S608

    assert "append-only" in error
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert cursor.fetchone()[0] >= 1


@pytest.mark.parametrize("table", TABLES)
def test_truncate_is_refused(records, table):
    assert "append-only" in refused(f"TRUNCATE {table}")


def test_the_orm_cannot_update_or_delete_either(records):
    assert "append-only" in _raises(lambda: AccessRecord.objects.update(username="mallory"))
    assert "append-only" in _raises(lambda: AccessRecord.objects.all().delete())
    assert "append-only" in _raises(lambda: ChangeRecord.objects.all().delete())


def _raises(call) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        call()
    return str(raised.value)


def test_a_prune_setting_does_not_open_younger_rows(records):
    """The prune path names a time: rows younger than it stay refused."""
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('audit.prune_before', '2000-01-01T00:00:00+00:00', true)")
        cursor.execute("DELETE FROM audit_accessrecord")


@pytest.mark.parametrize("model", [AccessRecord, ChangeRecord])
def test_the_admin_offers_a_superuser_no_add_change_delete_or_action(admin_user, model):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[model]

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.get_actions(request) == {}


@pytest.mark.parametrize("model", ["accessrecord", "changerecord"])
def test_the_admin_refuses_a_superuser_add_change_and_delete_pages(admin_client, records, model):
    pk = records[f"audit_{model}"]

    add = admin_client.get(reverse(f"admin:audit_{model}_add"))
    change = admin_client.post(reverse(f"admin:audit_{model}_change", args=[pk]), {"username": "mallory"})
    delete = admin_client.post(reverse(f"admin:audit_{model}_delete", args=[pk]), {"post": "yes"})
    page = admin_client.get(reverse(f"admin:audit_{model}_change", args=[pk])).content.decode()

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert 'name="_save"' not in page and "deletelink" not in page
    assert AccessRecord.objects.filter(username="mallory").count() == 0

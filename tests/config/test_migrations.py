"""The models and their migrations agree, and a database made before the sources app keeps every row
through its migrations, both ways."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command

from tests.support.processes import BASE_DIR


@pytest.mark.django_db
def test_no_model_change_lacks_its_migration():
    out = StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


# Indexes on tables in use: built without locking writes -------------------------------------------

# Migrations from before the rule, applied long since: rewriting them would change nothing for
# the databases that ran them.
INDEXES_BEFORE_THE_RULE = {
    ("documents", "0001_initial"),
    ("documents", "0005_document_text"),
    ("documents", "0007_name_search_indexes"),  # its content type index should have been concurrent
    ("webhooks", "0005_delivery_outbox"),
}


def test_a_migration_adds_an_index_to_a_table_in_use_concurrently_on_postgresql():
    from django.contrib.postgres.operations import AddIndexConcurrently
    from django.db.migrations import AddIndex
    from django.db.migrations.loader import MigrationLoader

    ours = {"documents", "webhooks", "sources", "audit", "interviews"}
    plain = [
        (app, name, operation.index.name)
        for (app, name), migration in MigrationLoader(None, ignore_no_migrations=True).disk_migrations.items()
        if app in ours and (app, name) not in INDEXES_BEFORE_THE_RULE
        for operation in migration.operations
        if isinstance(operation, AddIndex) and not isinstance(operation, AddIndexConcurrently)
    ]

    assert plain == []


@pytest.mark.django_db(transaction=True)  # CONCURRENTLY is refused inside a transaction
def test_the_document_source_index_is_built_concurrently():
    out = StringIO()

    call_command("sqlmigrate", "documents", "0014", stdout=out)

    assert 'CREATE INDEX CONCURRENTLY "document_source" ON "documents_document" ("source_id", "id")' in out.getvalue()


# Source and SourceSync moving to the sources app -------------------------------------------------

# The last migrations before the sources app: what a database in use had.
BEFORE_SOURCES = [
    ("admin", "0003_logentry_add_action_flag_choices"),
    ("webhooks", "0007_delivery_received_at_database_default"),
    ("documents", "0008_document_text_without_permissions"),
    ("interviews", "0001_initial"),
]

# Run by the code as it was then: its models (the migrations' historical ones) on its tables, its
# content types and permissions as `migrate` made them.
MAKE_ROWS = f"""
import json
import django; django.setup()
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from sources.crypto import secret_encrypt

targets = {BEFORE_SOURCES!r}
for app_label, name in targets:
    call_command("migrate", app_label, name, verbosity=0)
apps = MigrationLoader(connection).project_state(targets).apps
model = apps.get_model

source = model("webhooks", "Source").objects.create(
    slug="acme", name="Acme", api_base_url="https://acme.example/api", auth_base_url="https://acme.example/auth",
    client_name="acme-client", principal_name="sync", principal_password_encrypted=secret_encrypt("pw-9d2e"),
)
token = model("webhooks", "WebhookToken").objects.create(
    source=source, name="production", lookup="whk_ab", digest="d" * 64
)
delivery = model("webhooks", "Delivery").objects.create(
    source=source, token=token, event_id="evt-1", event_type="NewWorkItemVersionComplete", status="processed",
    http_status=202,
)
work_item = model("documents", "WorkItem").objects.create(source=source, advance_id="wi-1")
version = model("documents", "WorkItemVersion").objects.create(work_item=work_item, advance_id="v-1", delivery=delivery)
document = model("documents", "Document").objects.create(version=version, source=source, advance_id="doc-1")
sync = model("documents", "SourceSync").objects.create(
    source=source, post_processing_status_path="WorkItems/{{workItemId}}/Status", reconcile_interval_minutes=30
)
provider = model("interviews", "AnswerProvider").objects.create(
    source=source, event_type="InterviewLoadEvent", answer_json="{{}}"
)
Permission, ContentType = model("auth", "Permission"), model("contenttypes", "ContentType")
clerk = model("auth", "User").objects.create(username="clerk", is_staff=True)
clerk.user_permissions.add(Permission.objects.get(content_type__app_label="webhooks", codename="change_source"))
group = model("auth", "Group").objects.create(name="sync admins")
group.permissions.add(Permission.objects.get(content_type__app_label="documents", codename="change_sourcesync"))
model("auth", "User").objects.create(username="member", is_staff=True).groups.add(group)
model("admin", "LogEntry").objects.create(
    user=clerk, content_type=ContentType.objects.get(app_label="webhooks", model="source"), object_id=str(source.pk),
    object_repr="Acme", action_flag=2, change_message="[]",
)
print(json.dumps({{
    "source": source.pk, "token": token.pk, "delivery": delivery.pk, "work_item": work_item.pk,
    "version": version.pk, "document": document.pk, "sync": sync.pk, "provider": provider.pk,
}}))
"""

# Run by the code of today, after `migrate`: what it finds of those rows.
READ_ROWS = """
import json
import django; django.setup()
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from documents.models import Document, WorkItem, WorkItemVersion
from interviews.models import AnswerProvider
from sources.models import Source, SourceSync
from sources.services import source_save
from webhooks.models import Delivery, WebhookToken

call_command("migrate", verbosity=0)
source = Source.objects.get(slug="acme")
sync = SourceSync.objects.get(source=source)
version = WorkItemVersion.objects.get(advance_id="v-1")
log = LogEntry.objects.get()
clerk = User.objects.get(username="clerk")
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = %s::regclass",
        [Source._meta.db_table],
    )
    foreign_keys = sorted(table for (table,) in cursor.fetchall())
added, _ = source_save(slug="globex", api_base_url="https://globex.example/api",
    auth_base_url="https://globex.example/auth", client_name="g", principal_name="p", principal_password="x")
print(json.dumps({
    "ids": {
        "source": source.pk, "token": WebhookToken.objects.get(source=source).pk,
        "delivery": Delivery.objects.get(source=source).pk, "work_item": WorkItem.objects.get(source=source).pk,
        "version": version.pk, "document": Document.objects.get(source=source, version=version).pk,
        "sync": sync.pk, "provider": AnswerProvider.objects.get(source=source).pk,
    },
    "version_delivery": version.delivery.event_id,
    "password": source.principal_password,
    "sync_settings": [sync.post_processing_status_path, sync.reconcile_interval_minutes],
    "tables": [Source._meta.db_table, SourceSync._meta.db_table],
    "foreign_keys": foreign_keys,
    "clerk": [clerk.has_perm("sources.change_source"), clerk.has_perm("webhooks.change_source")],
    "member": User.objects.get(username="member").has_perm("sources.change_sourcesync"),
    "log": [log.content_type.app_label, log.get_admin_url()],
    "content_types": sorted(
        f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.filter(model__in=["source", "sourcesync"])
    ),
    "next_source_after": added.pk > source.pk,
}))
"""

# Back to the state before the sources app, read with SQL: today's models name today's tables.
MIGRATE_BACK = """
import json
import django; django.setup()
from django.core.management import call_command
from django.db import connection

call_command("migrate", "sources", "zero", verbosity=0)
with connection.cursor() as cursor:
    def rows(sql):
        cursor.execute(sql)
        return [list(row) for row in cursor.fetchall()]
    print(json.dumps({
        "tables": rows("SELECT tablename FROM pg_tables WHERE tablename LIKE '%%source%%' ORDER BY 1"),
        "sources": rows("SELECT s.slug FROM webhooks_source s JOIN webhooks_webhooktoken t ON t.source_id = s.id "
            "JOIN documents_document d ON d.source_id = s.id JOIN documents_sourcesync y ON y.source_id = s.id"),
        "content_types": rows("SELECT app_label, model FROM django_content_type "
            "WHERE model IN ('source', 'sourcesync') ORDER BY 1"),
        "clerk": rows("SELECT c.app_label, p.codename FROM auth_user u JOIN auth_user_user_permissions up ON "
            "up.user_id = u.id JOIN auth_permission p ON p.id = up.permission_id JOIN django_content_type c ON "
            "c.id = p.content_type_id WHERE u.username = 'clerk'"),
    }))
call_command("migrate", verbosity=0)
"""


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database of its own on the suite's PostgreSQL server, with nothing in it: its URL."""
    from django.db import connection

    settings = connection.settings_dict
    name = f"migrations_{os.urandom(4).hex()}"
    server = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as superuser:
        superuser.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{server}/{name}"
        finally:
            superuser.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(script: str, database_url: str, tmp_path) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_database_from_before_the_sources_app_keeps_its_rows_keys_and_permissions_both_ways(
    scratch_database, tmp_path
):
    made = run(MAKE_ROWS, scratch_database, tmp_path)

    found = run(READ_ROWS, scratch_database, tmp_path)

    assert found["ids"] == made
    assert found["version_delivery"] == "evt-1"
    assert found["password"] == "pw-9d2e"
    assert found["sync_settings"] == ["WorkItems/{workItemId}/Status", 30]
    assert found["tables"] == ["sources_source", "sources_sourcesync"]
    assert found["foreign_keys"] == [
        "documents_document",
        "documents_documenttext",
        "documents_workitem",
        "interviews_answerprovider",
        "sources_sourceaccess",
        "sources_sourcesync",
        "webhooks_delivery",
        "webhooks_webhooktoken",
    ]
    assert found["clerk"] == [True, False]
    assert found["member"] is True
    assert found["log"] == ["sources", f"/admin/sources/source/{made['source']}/change/"]
    assert found["content_types"] == ["sources.source", "sources.sourcesync"]
    assert found["next_source_after"] is True

    back = run(MIGRATE_BACK, scratch_database, tmp_path)

    assert back["tables"] == [["documents_sourcesync"], ["webhooks_source"]]
    assert back["sources"] == [["acme"]]
    assert back["content_types"] == [["documents", "sourcesync"], ["webhooks", "source"]]
    assert back["clerk"] == [["webhooks", "change_source"]]

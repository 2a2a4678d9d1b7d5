"""Indexes in the order of the work items' and versions' lists, built without locking writes.

Migration 0007 built its indexes with a plain CREATE INDEX, which blocks writes to the table while
it runs; it is applied on existing databases and stays as it is. Indexes from here on are built
CONCURRENTLY on PostgreSQL (core.migration_operations.AddIndexWithoutLocking)."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("documents", "0011_document_text_source")]

    operations = [
        AddIndexWithoutLocking(
            model_name="workitem", index=models.Index(fields=["updated_at", "id"], name="work_item_updated")
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion", index=models.Index(fields=["created_at", "id"], name="version_created")
        ),
    ]

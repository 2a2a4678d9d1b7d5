"""Indexes in the order of each sortable column of the documents', work items' and versions' lists
(and each of the versions' filters), built without locking writes on PostgreSQL (CREATE INDEX
CONCURRENTLY)."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("documents", "0019_status_counts_fill")]

    operations = [
        AddIndexWithoutLocking(
            model_name="document", index=models.Index(fields=["name", "id"], name="document_sort_name")
        ),
        AddIndexWithoutLocking(
            model_name="document", index=models.Index(fields=["content_type", "id"], name="document_sort_type")
        ),
        AddIndexWithoutLocking(
            model_name="document", index=models.Index(fields=["size", "id"], name="document_sort_size")
        ),
        AddIndexWithoutLocking(
            model_name="document", index=models.Index(fields=["status", "id"], name="document_sort_status")
        ),
        AddIndexWithoutLocking(
            model_name="workitem", index=models.Index(fields=["name", "id"], name="work_item_sort_name")
        ),
        AddIndexWithoutLocking(
            model_name="workitem", index=models.Index(fields=["advance_id", "id"], name="work_item_sort_advance_id")
        ),
        AddIndexWithoutLocking(
            model_name="workitem", index=models.Index(fields=["legal_hold", "id"], name="work_item_sort_legal_hold")
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["advance_id", "id"], name="version_sort_advance_id"),
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["completed_at", "id"], name="version_sort_completed"),
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["created_by_login", "id"], name="version_sort_login"),
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["recorded_by", "id"], name="version_sort_recorded_by"),
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["post_processing_status", "id"], name="version_sort_post_processing"),
        ),
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["documents_from", "id"], name="version_documents_from"),
        ),
    ]

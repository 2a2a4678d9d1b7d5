"""Indexes for the dashboard's figures, its latest failures and its chart, built without locking writes."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("documents", "0012_list_order_indexes")]

    operations = [
        AddIndexWithoutLocking(
            model_name="document", index=models.Index(fields=["status", "created_at"], name="document_status_created")
        ),
        AddIndexWithoutLocking(
            model_name="document",
            index=models.Index(
                fields=["-updated_at"], condition=models.Q(status__in=["failed", "dead"]), name="document_gave_up"
            ),
        ),
    ]

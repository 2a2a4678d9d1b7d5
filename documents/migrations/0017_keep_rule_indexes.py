"""Partial indexes of held work items and retained documents, built without locking writes on
PostgreSQL (CREATE INDEX CONCURRENTLY): the delivery log's pruning keeps the events of both, and
found them by reading every work item and every document for each batch."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("documents", "0016_search_passage_function")]

    operations = [
        AddIndexWithoutLocking(
            model_name="workitem",
            index=models.Index(fields=["id"], condition=models.Q(legal_hold=True), name="work_item_held"),
        ),
        AddIndexWithoutLocking(
            model_name="document",
            index=models.Index(
                fields=["version"], condition=models.Q(retain_until__isnull=False), name="document_retained"
            ),
        ),
    ]

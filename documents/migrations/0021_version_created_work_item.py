"""The versions' list order index carries the work item's key: a list limited to some sources (the
work item's) walks the index in date order without reading each version's row (a staff user's
deep page: docs/performance.md). Built, and the old one dropped, without locking writes on
PostgreSQL (CONCURRENTLY)."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutLocking, RemoveIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY run outside a transaction

    dependencies = [("documents", "0020_list_sort_indexes")]

    operations = [
        AddIndexWithoutLocking(
            model_name="workitemversion",
            index=models.Index(fields=["created_at", "id"], include=["work_item"], name="version_created_work_item"),
        ),
        RemoveIndexWithoutLocking(model_name="workitemversion", name="version_created"),
    ]

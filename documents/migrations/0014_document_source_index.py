"""An index of the documents' keys by source, built without locking writes on PostgreSQL
(CREATE INDEX CONCURRENTLY): a user of some sources has their documents' keys read from the
index alone, and a search's matches joined to them without reading the table."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("documents", "0013_dashboard_indexes")]

    operations = [
        AddIndexWithoutLocking(model_name="document", index=models.Index(fields=["source", "id"], name="document_source")),
    ]

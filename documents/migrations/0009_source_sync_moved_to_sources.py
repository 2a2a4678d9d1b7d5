"""Source and SourceSync are the sources app's now (sources 0001): the foreign keys to Source point
there, and this app forgets SourceSync, in the migrations' state only; no table or constraint
changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0008_document_text_without_permissions"),
        ("sources", "0001_initial"),
    ]
    # webhooks forgets its Source once no model of this app points at it any more.
    run_before = [("webhooks", "0008_source_moved_to_sources")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="workitem",
                    name="source",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="work_items", to="sources.source"
                    ),
                ),
                migrations.AlterField(
                    model_name="document",
                    name="source",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="documents", to="sources.source"
                    ),
                ),
                migrations.DeleteModel(name="SourceSync"),
            ],
            database_operations=[],
        ),
    ]

"""Source is the sources app's now (sources 0001): the foreign key to it points there, in the
migrations' state only; no table or constraint changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("interviews", "0001_initial"),
        ("sources", "0001_initial"),
    ]
    # webhooks forgets its Source once no model of this app points at it any more.
    run_before = [("webhooks", "0008_source_moved_to_sources")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="answerprovider",
                    name="source",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="answer_providers",
                        to="sources.source",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]

"""Source is the sources app's now (sources 0001): the foreign keys to it point there, and this app
forgets the model, in the migrations' state only; no table or constraint changes. The other apps'
keys are moved before this runs (their migrations say run_before)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0001_initial"),
        ("webhooks", "0007_delivery_received_at_database_default"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhooktoken",
                    name="source",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="tokens", to="sources.source"
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="source",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="sources.source",
                    ),
                ),
                migrations.DeleteModel(name="Source"),
            ],
            database_operations=[],
        ),
    ]

"""The access record's action "compare" (a version comparison): choices only, no SQL (the append-only
trigger of 0002 is not involved: no row is rewritten)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
    ]

    operations = [
        migrations.AlterField(
            model_name="accessrecord",
            name="action",
            field=models.CharField(
                choices=[
                    ("view", "Document page"),
                    ("download", "Download"),
                    ("preview", "Preview"),
                    ("text", "Text"),
                    ("export", "CSV export"),
                    ("search", "Search"),
                    ("compare", "Version comparison"),
                ],
                max_length=16,
            ),
        ),
    ]

"""The tables take this app's names: ALTER TABLE ... RENAME, which moves no row (PostgreSQL and
SQLite alike repoint the foreign keys that reference them)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0001_initial"),
        # After every other app's state stopped naming these tables.
        ("webhooks", "0008_source_moved_to_sources"),
    ]

    operations = [
        migrations.AlterModelTable(name="source", table=None),
        migrations.AlterModelTable(name="sourcesync", table=None),
    ]

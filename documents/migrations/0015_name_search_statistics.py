"""Finer statistics for the names the admin's search matches anywhere (the trigram indexes of 0007).

The search finds its candidates with the word the planner expects to be rarest. With the default
statistics (100 sampled names), a first name in one work item in twenty and a surname in one in
three hundred were both estimated at the floor; with 1,000 they are told apart. ANALYZE takes
a SHARE UPDATE EXCLUSIVE lock: reads and writes go on.
"""

from django.db import migrations

INDEXES = ["work_item_name_trgm", "document_name_trgm", "document_filename_trgm"]
TARGET = 1000


def statistics_set(apps, schema_editor, target=TARGET):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [INDEXES])
        present = [name for (name,) in cursor.fetchall()]  # absent where pg_trgm could not be created
    for name in present:
        schema_editor.execute(f"ALTER INDEX {name} ALTER COLUMN 1 SET STATISTICS {target}")
    if present and target > 0:
        schema_editor.execute("ANALYZE documents_workitem")
        schema_editor.execute("ANALYZE documents_document")


def statistics_reset(apps, schema_editor):
    statistics_set(apps, schema_editor, target=-1)


class Migration(migrations.Migration):
    dependencies = [("documents", "0014_document_source_index")]

    operations = [migrations.RunPython(statistics_set, statistics_reset)]

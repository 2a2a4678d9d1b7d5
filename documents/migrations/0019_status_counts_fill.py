"""The dashboard's counts table filled from the rows, after 0018's triggers exist: each kind counted
in one statement of its own transaction, which reads the rows without locking their writes."""

from django.db import migrations, transaction

# documents.status_counts.LOCK and REBUILD_SQL as they were when this migration was written.
LOCK = 230_001

FILL_SQL = [
    """
    WITH gone AS (DELETE FROM documents_statuscount WHERE kind = 'document')
    INSERT INTO documents_statuscount (source_id, kind, status, count)
    SELECT source_id, 'document', status, count(*) FROM documents_document GROUP BY source_id, status
    """,
    """
    WITH gone AS (DELETE FROM documents_statuscount WHERE kind = 'text')
    INSERT INTO documents_statuscount (source_id, kind, status, count)
    SELECT d.source_id, 'text', t.status, count(*)
    FROM documents_documenttext t JOIN documents_document d ON d.id = t.document_id
    GROUP BY d.source_id, t.status
    """,
    """
    WITH gone AS (DELETE FROM documents_statuscount WHERE kind = 'event')
    INSERT INTO documents_statuscount (source_id, kind, status, count)
    SELECT source_id, 'event', 'failed', count(*) FROM webhooks_delivery WHERE status = 'failed'
    GROUP BY source_id
    """,
]


def counts_fill(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    for sql in FILL_SQL:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
            cursor.execute(sql)


def counts_empty(apps, schema_editor) -> None:
    apps.get_model("documents", "StatusCount").objects.all().delete()


class Migration(migrations.Migration):
    atomic = False  # each kind counted in its own transaction

    dependencies = [("documents", "0018_status_counts")]

    operations = [migrations.RunPython(counts_fill, counts_empty)]

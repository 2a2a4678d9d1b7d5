"""The dashboard's counts by kind, source and status, kept by PostgreSQL triggers in the transaction
that changes the rows they count (documents.models.StatusCount); filled by 0019.

Documents and texts: one trigger per statement (INSERT, UPDATE, DELETE) that adds the statement's
net change per source and status, read from its transition tables: a bulk COPY or UPDATE pays one
aggregate. Deliveries: only failed ones are counted, by a row trigger whose WHEN skips every other
row, so that the intake's INSERT of an accepted delivery runs no trigger at all, and a bulk DELETE
(pruning) keeps no copy of the rows it deletes. On SQLite (the embedded run) nothing: it counts
directly.
"""

import django.db.models.deletion
from django.db import migrations, models

# The statement's net change per (source, status), for documents and texts. A text counts under
# its document's source (a text's own source is set only with its vector); its own is the fallback
# for a text whose document went first in the same transaction (raw SQL; Django deletes texts first).
DOCUMENTS_FUNCTION = """
CREATE OR REPLACE FUNCTION documents_statuscount_documents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT source_id, 'document', status, count(*) FROM new_rows GROUP BY source_id, status;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT source_id, 'document', status, sum(n) FROM (
            SELECT source_id, status, 1 AS n FROM new_rows
            UNION ALL
            SELECT source_id, status, -1 AS n FROM old_rows
        ) AS changed
        GROUP BY source_id, status HAVING sum(n) <> 0;
    ELSE
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT source_id, 'document', status, -count(*) FROM old_rows GROUP BY source_id, status;
    END IF;
    RETURN NULL;
END
$$;
"""

TEXTS_FUNCTION = """
CREATE OR REPLACE FUNCTION documents_statuscount_texts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT coalesce(d.source_id, t.source_id), 'text', t.status, count(*)
        FROM new_rows t LEFT JOIN documents_document d ON d.id = t.document_id
        GROUP BY 1, 3;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT coalesce(d.source_id, t.source_id), 'text', t.status, sum(t.n)
        FROM (
            SELECT document_id, source_id, status, sum(n) AS n FROM (
                SELECT document_id, source_id, status, 1 AS n FROM new_rows
                UNION ALL
                SELECT document_id, source_id, status, -1 AS n FROM old_rows
            ) AS rows
            GROUP BY document_id, source_id, status HAVING sum(n) <> 0
        ) AS t LEFT JOIN documents_document d ON d.id = t.document_id
        GROUP BY 1, 3 HAVING sum(t.n) <> 0;
    ELSE
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT coalesce(d.source_id, t.source_id), 'text', t.status, -count(*)
        FROM old_rows t LEFT JOIN documents_document d ON d.id = t.document_id
        GROUP BY 1, 3;
    END IF;
    RETURN NULL;
END
$$;
"""

EVENTS_FUNCTION = """
CREATE OR REPLACE FUNCTION documents_statuscount_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.status = 'failed' THEN
            INSERT INTO documents_statuscount (source_id, kind, status, count) VALUES (OLD.source_id, 'event', 'failed', -1);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.status = 'failed' THEN
            INSERT INTO documents_statuscount (source_id, kind, status, count) VALUES (NEW.source_id, 'event', 'failed', 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
"""

FORGET_FUNCTION = """
CREATE OR REPLACE FUNCTION documents_statuscount_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM documents_statuscount WHERE kind = TG_ARGV[0];
    RETURN NULL;
END
$$;
"""


def statement_triggers(table: str, function: str, kind: str) -> list[str]:
    name = f"{table}_statuscount"
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {name}_truncate AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION documents_statuscount_forget('{kind}')",
    ]


EVENT_TRIGGERS = [
    "CREATE TRIGGER webhooks_delivery_statuscount_insert AFTER INSERT ON webhooks_delivery "
    "FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION documents_statuscount_events()",
    "CREATE TRIGGER webhooks_delivery_statuscount_update AFTER UPDATE OF status, source_id ON webhooks_delivery "
    "FOR EACH ROW WHEN ((OLD.status = 'failed' OR NEW.status = 'failed') "
    "AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.source_id IS DISTINCT FROM NEW.source_id)) "
    "EXECUTE FUNCTION documents_statuscount_events()",
    "CREATE TRIGGER webhooks_delivery_statuscount_delete AFTER DELETE ON webhooks_delivery "
    "FOR EACH ROW WHEN (OLD.status = 'failed') EXECUTE FUNCTION documents_statuscount_events()",
    "CREATE TRIGGER webhooks_delivery_statuscount_truncate AFTER TRUNCATE ON webhooks_delivery "
    "FOR EACH STATEMENT EXECUTE FUNCTION documents_statuscount_forget('event')",
]

TRIGGERS = [
    *statement_triggers("documents_document", "documents_statuscount_documents", "document"),
    *statement_triggers("documents_documenttext", "documents_statuscount_texts", "text"),
    *EVENT_TRIGGERS,
]


def triggers_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_statuscount_{event} ON {table}"
        for table in ("documents_document", "documents_documenttext", "webhooks_delivery")
        for event in ("insert", "update", "delete", "truncate")
    ]


FUNCTIONS = ["documents", "texts", "events", "forget"]


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL on PostgreSQL; nothing on SQLite, where the dashboard counts the rows themselves."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0017_keep_rule_indexes"),
        ("sources", "0005_merge_access_and_retention"),
        ("webhooks", "0008_source_moved_to_sources"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatusCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("document", "Document"), ("text", "Document text"), ("event", "Event")],
                        max_length=16,
                    ),
                ),
                ("status", models.CharField(max_length=16)),
                ("count", models.BigIntegerField()),
                (
                    "source",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="sources.source",
                    ),
                ),
            ],
            options={"default_permissions": ()},
        ),
        # CREATE TRIGGER waits for the writes in progress on each table and holds the next ones
        # until this short transaction commits: give up rather than queue writes behind a long one.
        PostgreSQLOnly(
            sql=[
                "SET LOCAL lock_timeout = '10s'",
                DOCUMENTS_FUNCTION,
                TEXTS_FUNCTION,
                EVENTS_FUNCTION,
                FORGET_FUNCTION,
                *TRIGGERS,
            ],
            reverse_sql=[
                *triggers_drop(),
                *(f"DROP FUNCTION IF EXISTS documents_statuscount_{name}()" for name in FUNCTIONS),
            ],
        ),
    ]

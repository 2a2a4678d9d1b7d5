"""On PostgreSQL, the audit log's tables refuse UPDATE, DELETE and TRUNCATE, superusers' included.

Two ways through, each named by a setting local to its transaction: `audit_prune` sets
audit.prune_before and may then DELETE rows older than that time, and only those; the test suite's
flush between transactional tests runs on a test database that sets audit.truncate_allowed
(tests/conftest.py). A role that owns
the tables can still drop the trigger: run the application as a role that does not (docs/audit.md).
"""

from django.db import migrations

TABLES = ["audit_accessrecord", "audit_changerecord"]

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF coalesce(current_setting('audit.prune_before', true), '') <> ''
           AND OLD.at < current_setting('audit.prune_before', true)::timestamptz THEN
            RETURN OLD;
        END IF;
    ELSIF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('audit.truncate_allowed', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused (only audit_prune deletes, after the retention)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def triggers(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();"
    )


def triggers_drop(table: str) -> str:
    return f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};"


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL on PostgreSQL; nothing on SQLite (the embedded run), where the admin alone keeps the
    log append-only."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        PostgreSQLOnly(
            sql=[FUNCTION, *(triggers(table) for table in TABLES)],
            reverse_sql=[*(triggers_drop(table) for table in TABLES), "DROP FUNCTION IF EXISTS audit_append_only()"],
        )
    ]

"""Migration operations every app's migrations use."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


class _ConcurrentlyOnPostgreSQL:
    """The CONCURRENTLY operation on PostgreSQL (the migration must say `atomic = False`); the plain
    one (`plain`) elsewhere (SQLite), which has no such form."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    """Builds the index without locking the table's writes on PostgreSQL (CREATE INDEX CONCURRENTLY:
    the migration must say `atomic = False`); elsewhere (SQLite) a plain CREATE INDEX."""

    plain = AddIndex


class RemoveIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """Drops the index without locking the table's reads and writes on PostgreSQL (DROP INDEX
    CONCURRENTLY: the migration must say `atomic = False`); elsewhere (SQLite) a plain DROP INDEX."""

    plain = RemoveIndex

"""Indexes for the admin's Documents list: its type filter (every database) and its search box
(PostgreSQL; SQLite scans, as before).

The name fields are matched with `icontains` (UPPER(col) LIKE '%word%'): trigram GIN indexes serve
it. Ids and SHA-256 are matched from their start (`istartswith`): a pattern btree serves it. The
admin's search asks each field on its own and unites the ids, so that each index is used.

pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Where the role may
not, the migration says so and goes on without the trigram indexes: the search still works, slower.
"""

from django.db import DatabaseError, migrations, models, transaction

TRIGRAM = {
    "document_name_trgm": ("documents_document", "name"),
    "document_filename_trgm": ("documents_document", "filename"),
    "work_item_name_trgm": ("documents_workitem", "name"),
    "version_login_trgm": ("documents_workitemversion", "created_by_login"),
}
PREFIX = {
    "document_id_prefix": ("documents_document", "advance_id"),
    "document_sha256_prefix": ("documents_document", "sha256"),
    "work_item_id_prefix": ("documents_workitem", "advance_id"),
    "version_id_prefix": ("documents_workitemversion", "advance_id"),
}


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The expressions are the ones Django's lookups write: UPPER("col"::text).
    for name, (table, column) in PREFIX.items():
        schema_editor.execute(f'CREATE INDEX {name} ON {table} (UPPER("{column}"::text) text_pattern_ops)')
    # A search's scans of the text table are short and index-driven: starting parallel workers for
    # them cost more than they saved (a count of 3,400 matches: 13 ms with workers, 5 ms without).
    schema_editor.execute("ALTER TABLE documents_documenttext SET (parallel_workers = 0)")
    # A search reads the vector of every match (to rank it) and the text of the page's rows only:
    # keep the vector in the row, and let the text be the column moved out of it when the row is
    # large. A vector moved out costs a TOAST lookup per match: ranking 3,400 matches took 9.5 ms
    # so, 4 ms kept in the row. Applies to rows written from now on (documents_reindex rewrites).
    schema_editor.execute("ALTER TABLE documents_documenttext ALTER COLUMN search_vector SET STORAGE MAIN")
    try:
        with transaction.atomic():  # a savepoint: a refusal must not abort the migration's transaction
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        print(f"\n  pg_trgm not created ({error}); name search goes without its indexes.", end="")
        return
    for name, (table, column) in TRIGRAM.items():
        schema_editor.execute(f'CREATE INDEX {name} ON {table} USING gin (UPPER("{column}"::text) gin_trgm_ops)')


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in [*PREFIX, *TRIGRAM]:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("ALTER TABLE documents_documenttext RESET (parallel_workers)")
    schema_editor.execute("ALTER TABLE documents_documenttext ALTER COLUMN search_vector SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0006_source_search_config"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="document",
            index=models.Index(fields=["content_type"], name="document_content_type"),
        ),
        migrations.RunPython(indexes_create, indexes_drop),
    ]

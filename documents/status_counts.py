"""The dashboard's counts table (documents.models.StatusCount): summed back to one row per group,
and counted again from the rows themselves. PostgreSQL only; on SQLite both do nothing."""

import logging

from django.db import connection, transaction

logger = logging.getLogger(__name__)

# Held for the transaction by whoever deletes rows of the counts table (this module and migration
# 0019): two of them at once could each replace rows the other has just summed.
LOCK = 230_001

COMPACT_SQL = """
WITH gone AS (DELETE FROM documents_statuscount RETURNING source_id, kind, status, count)
INSERT INTO documents_statuscount (source_id, kind, status, count)
SELECT source_id, kind, status, sum(count) FROM gone GROUP BY source_id, kind, status HAVING sum(count) <> 0
"""

# Each statement reads the rows and deletes the changes of that kind under one snapshot: the
# changes committed after it (their triggers' rows are not visible to it either) stay and add up.
REBUILD_SQL = {
    "document": """
        WITH gone AS (DELETE FROM documents_statuscount WHERE kind = 'document')
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT source_id, 'document', status, count(*) FROM documents_document GROUP BY source_id, status
    """,
    "text": """
        WITH gone AS (DELETE FROM documents_statuscount WHERE kind = 'text')
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT d.source_id, 'text', t.status, count(*)
        FROM documents_documenttext t JOIN documents_document d ON d.id = t.document_id
        GROUP BY d.source_id, t.status
    """,
    "event": """
        WITH gone AS (DELETE FROM documents_statuscount WHERE kind = 'event')
        INSERT INTO documents_statuscount (source_id, kind, status, count)
        SELECT source_id, 'event', 'failed', count(*) FROM webhooks_delivery WHERE status = 'failed'
        GROUP BY source_id
    """,
}


def status_counts_compact() -> int:
    """Sum the counts table's rows to one per (source, kind, status); return how many rows it had.

    The triggers add rows with every statement that changes a status; the dashboard sums them, so
    this keeps its read as short as the changes since the last run."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
        cursor.execute("SELECT count(*) FROM documents_statuscount")
        rows = cursor.fetchone()[0]
        cursor.execute(COMPACT_SQL)
    logger.debug("status counts compacted: rows=%s", rows)
    return rows


def status_counts_rebuild() -> None:
    """Count every kind again from its rows (what migration 0019 did first), each kind in a
    transaction of its own: the writes go on meanwhile, and are counted once."""
    if connection.vendor != "postgresql":
        return
    for kind, sql in REBUILD_SQL.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
            cursor.execute(sql)
        logger.info("status counts rebuilt: kind=%s", kind)

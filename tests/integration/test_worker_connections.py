"""A plain worker keeps its threads' database connections from one task to the next.

Celery's Django fix-up closes them around every task unless told otherwise: a new PostgreSQL
connection (a server process started, authenticated, set up) per task, the largest cost per
document in the burst bench. Counted here by PostgreSQL itself (pg_stat_database.sessions).
"""

import pytest
from django.conf import settings
from django.db import connection

from advance_sim import SimDocument
from tests.factories import send
from tests.support.waiting import wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sessions_opened(database_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh figures, not this transaction's
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [database_name])
        return cursor.fetchone()[0]


def test_plain_worker_syncs_many_documents_on_a_bounded_number_of_database_connections(
    started,
    database_name,
    advance,
    token_key,
    webhook_url,
    bucket,
):
    started()
    count = 48  # three times the pool's threads: one connection per task would open 49 or more
    documents = [SimDocument(name=f"Doc {n}", kind="pdf", size=1024) for n in range(count)]
    work_item = advance.add_work_item(documents=documents)
    before = sessions_opened(database_name)

    assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    stored = wait_until_settled(count, timeout=90)

    assert [d.status for d in stored] == ["stored"] * count, [d.last_error for d in stored]
    opened = sessions_opened(database_name) - before
    # At most one per pool thread, plus the web request and this test's own reads.
    assert opened <= settings.CELERY_WORKER_CONCURRENCY + 4, f"{opened} connections for {count + 1} tasks"

"""The admin's searches are bounded: in characters and words, and in time (a statement timeout on
PostgreSQL), so that a crafted search, or a link to one, cannot tie up the database. A search
refused or stopped lists nothing, says why, and the page still renders."""

import csv
import io
import threading

import psycopg
import pytest
from django.db import connection

from core.admin import SEARCH_MAX_CHARS, SEARCH_MAX_WORDS
from documents.models import DocumentText
from tests.factories import delivery_make, document_make, document_text_indexed

DOCUMENTS = "/admin/documents/document/"


def found(response) -> list:
    return list(response.context["cl"].result_list)


def messages_of(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


@pytest.mark.django_db
def test_a_search_of_too_many_words_is_not_run_and_the_page_says_why(admin_client, source):
    document_make(source, name="contract")
    at_most = " ".join(["contract"] * SEARCH_MAX_WORDS)

    allowed = admin_client.get(DOCUMENTS, {"q": at_most})
    refused = admin_client.get(DOCUMENTS, {"q": f"{at_most} contract"})

    assert len(found(allowed)) == 1
    assert refused.status_code == 200
    assert found(refused) == []
    assert f"Search not run: at most {SEARCH_MAX_CHARS} characters and {SEARCH_MAX_WORDS} words." in messages_of(
        refused
    )


@pytest.mark.django_db
def test_a_search_longer_than_the_bound_is_not_run_on_any_list(admin_client, source):
    document_make(source, name="contract")
    delivery_make(source, event_id="evt-contract")
    long = "contract" + "*" * SEARCH_MAX_CHARS

    documents = admin_client.get(DOCUMENTS, {"q": long})
    deliveries = admin_client.get("/admin/webhooks/delivery/", {"q": "evt-contract" + " " * SEARCH_MAX_CHARS + "x"})

    for response in (documents, deliveries):
        assert response.status_code == 200
        assert found(response) == []
        assert "Search not run" in messages_of(response)


@pytest.mark.django_db
def test_the_export_of_a_search_too_long_exports_no_row(admin_client, source):
    document_make(source, name="contract")

    response = admin_client.get(f"{DOCUMENTS}export/", {"q": "contract " * (SEARCH_MAX_WORDS + 1)})

    rows = b"".join(response.streaming_content).decode().splitlines()
    assert response.status_code == 200
    assert len(rows) == 1  # the header only


@pytest.fixture
def text_table_locked(transactional_db):
    """The documents' texts locked by another session (as a long statement would hold them), and
    let go after 8 seconds at most, so that a search without a timeout waits that long, not forever."""
    settings = connection.settings_dict
    holder = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
    )
    holder.execute("LOCK TABLE documents_documenttext IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(8, holder.rollback)
    release.start()
    yield
    release.cancel()
    holder.rollback()
    holder.close()


@pytest.mark.django_db(transaction=True)
def test_a_search_that_outlasts_the_statement_timeout_is_stopped_with_a_clear_message(
    admin_client, source, settings, text_table_locked
):
    settings.ADMIN_SEARCH_TIMEOUT_MS = 300
    document_make(source, name="Supply contract")

    response = admin_client.get(DOCUMENTS, {"q": "saffron"})

    assert response.status_code == 200
    assert found(response) == []
    assert "The search took longer than 0.3 s and was stopped." in messages_of(response)
    assert 'value="saffron"' in response.content.decode()  # the search box keeps what was typed


@pytest.mark.django_db
def test_the_timeout_holds_only_for_the_search(admin_client, source, settings):
    settings.ADMIN_SEARCH_TIMEOUT_MS = 4321
    document = document_make(source, name="Supply contract")
    DocumentText.objects.create(document=document, status=DocumentText.Status.EXTRACTED, text="saffron")

    response = admin_client.get(DOCUMENTS, {"q": "Supply"})
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        after = cursor.fetchone()[0]

    assert found(response) == [document]
    assert after == "0"


@pytest.mark.django_db(transaction=True)
def test_the_export_of_a_search_that_outlasts_the_timeout_sends_back_to_the_list_with_a_message(
    admin_client, source, settings, text_table_locked
):
    settings.ADMIN_SEARCH_TIMEOUT_MS = 300
    document_make(source, name="Supply contract")

    response = admin_client.get(f"{DOCUMENTS}export/", {"q": "saffron"}, follow=True)

    assert response.redirect_chain == [(DOCUMENTS, 302)]
    assert "The export's search took longer than 0.3 s and was stopped." in messages_of(response)


@pytest.mark.django_db
def test_the_export_of_a_search_keeps_the_lists_order(admin_client, source):
    first = document_make(source, document_id="a", name="saffron saffron")
    second = document_make(source, document_id="b", name="saffron")
    for document, text in ((first, "saffron saffron saffron"), (second, "saffron")):
        document_text_indexed(document, text)

    listed = found(admin_client.get(DOCUMENTS, {"q": "saffron"}))
    response = admin_client.get(f"{DOCUMENTS}export/", {"q": "saffron"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(row["id"]) for row in rows] == [document.pk for document in listed]
    assert len(rows) == 2


@pytest.mark.django_db(transaction=True)  # as a request runs: the setting ends with its transaction
def test_a_searched_list_is_read_with_statements_planned_for_the_searched_words(admin_client, source):
    from django.test.utils import CaptureQueriesContext

    document_text_indexed(document_make(source, name="Supply contract"), "saffron")

    with CaptureQueriesContext(connection) as searched:
        admin_client.get(DOCUMENTS, {"q": "saffron"})
    with CaptureQueriesContext(connection) as unsearched:
        admin_client.get(DOCUMENTS)
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        after = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_workers_per_gather")
        workers_after = cursor.fetchone()[0]

    statements = [query["sql"] for query in searched.captured_queries]
    setting = statements.index("SET LOCAL plan_cache_mode = force_custom_plan")
    no_workers = statements.index("SET LOCAL max_parallel_workers_per_gather = 0")
    # Set before the list's statements (the search's probe among them), and for its transaction only.
    assert any("search_vector" in sql for sql in statements[max(setting, no_workers) :])
    assert not any("SET LOCAL" in query["sql"] for query in unsearched.captured_queries)
    assert after == "auto" and workers_after == "2"

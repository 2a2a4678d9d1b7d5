"""Full-text search over stored documents: extraction on its own queue through the real stack,
the admin's ranked search with highlighted passages, failures with their reasons, reindexing."""

import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from advance_sim import SimDocument
from documents.models import Document, DocumentText
from documents.search import metrics
from documents.search.extraction import text_extract
from documents.search.selectors import search_term_parse
from documents.search.services import document_text_extract, documents_text_requeue_stalled
from tests.factories import document_make, document_text_indexed
from tests.support.deployment import embedded_env
from tests.support.search_files import CORRUPT_DOCX, DOCX_TYPE, docx_bytes, pdf_bytes, pdf_without_text_bytes
from tests.support.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parents[2]


def send(url: str, payload: dict, key: str) -> requests.Response:
    return requests.post(
        url,
        data=json.dumps(payload),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=10,
    )


def texts_settled(count: int, timeout: float = 90) -> dict[str, DocumentText]:
    """Wait until `count` documents are stored or failed and each stored one's text left 'awaiting'."""

    def settled():
        documents = list(Document.objects.order_by("pk"))
        if len(documents) != count or any(d.status in ("pending", "syncing") for d in documents):
            return None
        texts = {t.document.advance_id: t for t in DocumentText.objects.select_related("document")}
        stored = [d for d in documents if d.status == Document.Status.STORED]
        if len(texts) < len(stored) or any(t.status == DocumentText.Status.AWAITING for t in texts.values()):
            return None
        return texts

    return wait_for(settled, timeout=timeout, message=f"{count} documents' texts to settle")


def changelist(client, term: str):
    response = client.get(reverse("admin:documents_document_changelist"), {"q": term})
    assert response.status_code == 200
    return response


def found(response) -> list[str]:
    return [document.advance_id for document in response.context["cl"].result_list]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_events_documents_are_extracted_by_the_worker_and_found_by_the_admin_search(
    celery_worker, bucket, live_server, advance, token_key, admin_client
):
    lease = SimDocument(
        id="lease",
        name="Lease",
        kind="docx",
        body=docx_bytes(
            paragraph="The lessee Bartholomew Quince shall pay the annual rent of 14,500 pounds.",
            table_cell="Indemnity owed to Zephyrine Holdings",
            header="Marmalade Confidential",
            footer="Page footer Wintergreen",
        ),
    )
    deed = SimDocument(
        id="deed", name="Deed", kind="pdf", body=pdf_bytes("Tenancy deed for the Wolverhampton warehouse")
    )
    scan = SimDocument(id="scan", name="Scan", kind="pdf", body=pdf_without_text_bytes())
    broken = SimDocument(id="broken", name="Broken", kind="docx", body=CORRUPT_DOCX)
    huge = SimDocument(id="huge", name="Huge", kind="pdf", text="Gargantuan annex", size=1024 * 1024 + 4096)
    work_item = advance.add_work_item(documents=[lease, deed, scan, broken, huge])
    assert send(f"{live_server.url}/webhooks/advance/", advance.event_payload(work_item), token_key).status_code == 202

    texts = texts_settled(5)

    # Every document of the event is stored, whatever became of its text.
    assert set(Document.objects.values_list("status", flat=True)) == {Document.Status.STORED}
    assert texts["lease"].status == DocumentText.Status.EXTRACTED
    for words in ("Bartholomew Quince", "Zephyrine Holdings", "Marmalade Confidential", "Wintergreen"):
        assert words in texts["lease"].text
    assert texts["deed"].status == DocumentText.Status.EXTRACTED
    assert "Wolverhampton warehouse" in texts["deed"].text
    assert (texts["scan"].status, texts["scan"].reason) == ("failed", DocumentText.Reason.NO_TEXT_LAYER)
    assert (texts["broken"].status, texts["broken"].reason) == ("failed", DocumentText.Reason.CORRUPT)
    assert (texts["huge"].status, texts["huge"].reason) == ("failed", DocumentText.Reason.TOO_LARGE)
    assert texts["lease"].search_vector is not None

    # A phrase, a word only in a table, a prefix as typed, and a word the name search would never find.
    assert found(changelist(admin_client, '"annual rent"')) == ["lease"]
    assert found(changelist(admin_client, "Zephyrine")) == ["lease"]
    assert found(changelist(admin_client, "Wolverh*")) == ["deed"]
    assert found(changelist(admin_client, "warehouse tenan")) == ["deed"]  # the last word as it is typed
    page = changelist(admin_client, '"annual rent"').content.decode()
    assert "<mark>annual</mark> <mark>rent</mark>" in page or "<mark>annual rent</mark>" in page
    # The name search still works beside the text's.
    assert found(changelist(admin_client, "Deed")) == ["deed"]

    # A new version of the work item: its documents are indexed too, and both versions are found.
    again = SimDocument(id="lease-2", name="Lease", kind="docx", body=docx_bytes(paragraph="Bartholomew Quince renews"))
    version_id = advance.new_version(work_item, documents=[again])
    payload = advance.event_payload(work_item, version_id=version_id)
    assert send(f"{live_server.url}/webhooks/advance/", payload, token_key).status_code == 202
    texts = texts_settled(6)
    assert texts["lease-2"].status == DocumentText.Status.EXTRACTED
    assert sorted(found(changelist(admin_client, "Bartholomew"))) == ["lease", "lease-2"]


@pytest.mark.django_db
def test_a_documents_script_is_shown_as_text_and_only_the_highlight_is_markup(bucket, source, admin_client):
    hostile = b"Invoice <script>alert('owned')</script> for Quokka Industries <img src=x onerror=alert(1)>"
    document = document_make(source, document_id="evil", content=hostile, content_type="text/plain", extension="txt")
    assert document_text_extract(document_id=document.pk) == DocumentText.Status.EXTRACTED

    page = changelist(admin_client, "Quokka").content.decode()

    assert "<mark>Quokka</mark>" in page
    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert" in page  # PostgreSQL's headline drops whole tags; the rest is escaped
    detail = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()
    assert "&lt;script&gt;alert(" in detail and "<script>alert(" not in detail
    assert "Extracted" in detail


@pytest.mark.django_db
def test_reindex_failed_only_extracts_the_failed_documents_again_and_leaves_the_others(bucket, source):
    good = document_make(source, document_id="good", content=pdf_bytes("Ordinary lease"))
    bad = document_make(source, document_id="bad", content=CORRUPT_DOCX, content_type=DOCX_TYPE, extension="docx")
    document_text_extract(document_id=good.pk)
    document_text_extract(document_id=bad.pk)
    before = DocumentText.objects.get(pk=good.pk)
    assert DocumentText.objects.get(pk=bad.pk).status == DocumentText.Status.FAILED

    call_command("documents_reindex", "--failed-only", stdout=StringIO())

    assert DocumentText.objects.get(pk=bad.pk).status == DocumentText.Status.AWAITING
    after = DocumentText.objects.get(pk=good.pk)
    assert (after.status, after.queued_at, after.extracted_at) == ("extracted", before.queued_at, before.extracted_at)


@pytest.mark.django_db
def test_reindex_by_source_and_date_queues_only_those_stored_documents(bucket, source, other_source):
    old = document_make(source, document_id="old", synced_at=timezone.now() - timedelta(days=10))
    new = document_make(source, document_id="new")
    elsewhere = document_make(other_source, document_id="else")
    since = (timezone.now() - timedelta(days=1)).date().isoformat()

    call_command("documents_reindex", "--source", source.slug, "--since", since, stdout=StringIO())

    assert list(DocumentText.objects.values_list("document_id", flat=True)) == [new.pk]
    assert not DocumentText.objects.filter(document__in=[old, elsewhere]).exists()


@pytest.mark.django_db
def test_a_stored_document_never_extracted_is_queued_again_by_the_sweep(bucket, source, settings):
    settings.SWEEP_STALE_SECONDS = 60
    lost = document_make(source, document_id="lost", synced_at=timezone.now() - timedelta(minutes=5))
    fresh = document_make(source, document_id="fresh")

    assert documents_text_requeue_stalled() == 1
    assert list(DocumentText.objects.values_list("document_id", "status")) == [(lost.pk, "awaiting")]
    assert not DocumentText.objects.filter(document=fresh).exists()


@pytest.mark.django_db
def test_an_extraction_over_its_time_budget_ends_as_timeout_and_is_counted(bucket, source, settings):
    settings.SEARCH_EXTRACT_SECONDS = 0  # the child cannot even start in that
    document = document_make(source, document_id="slow", content=pdf_bytes("Slow"))
    before = metrics.TEXT_FAILED.labels(reason="timeout")._value.get()

    document_text_extract(document_id=document.pk)

    text = DocumentText.objects.get(pk=document.pk)
    assert (text.status, text.reason) == ("failed", DocumentText.Reason.TIMEOUT)
    assert metrics.TEXT_FAILED.labels(reason="timeout")._value.get() == before + 1


@pytest.mark.django_db
def test_the_dashboard_counts_documents_awaiting_and_failing_extraction(source, admin_client):
    for n, status in enumerate(["awaiting", "awaiting", "failed", "extracted"]):
        DocumentText.objects.create(document=document_make(source, document_id=f"d{n}"), status=status)

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert 'data-figure="text-awaiting">2<' in page
    assert 'data-figure="text-failed">1<' in page
    failed = admin_client.get(reverse("admin:documents_document_changelist"), {"text_record__status__exact": "failed"})
    assert found(failed) == ["d2"]


@pytest.mark.parametrize(
    ("typed", "words", "prefixes"),
    [
        ("contract*", "", [(False, "contract")]),
        ('"annual rent" Quin', '"annual rent"', [(False, "Quin")]),
        ("annual rent ", "annual rent", []),
        ("-draft* lease", "", [(True, "draft"), (False, "lease")]),
        ("cat or dog*", "cat or dog ", []),
        ("a:* & b | !c*", "a:  & b | !c ", []),  # tsquery operators stay in the websearch part
    ],
)
def test_prefixes_are_taken_from_what_users_type_and_only_words_reach_to_tsquery(typed, words, prefixes):
    parsed = search_term_parse(typed)
    assert (parsed.words, parsed.prefixes) == (words, prefixes)


def test_the_embedded_sqlite_run_finds_a_word_of_a_documents_text(tmp_path):
    script = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from documents.models import Document, DocumentText, WorkItem, WorkItemVersion
from documents.search.selectors import documents_text_headlines, documents_text_search
from sources.models import Source
from sources.services import source_save
source, _ = source_save(slug="s", api_base_url="https://a.example/api", auth_base_url="https://a.example/auth",
    client_name="c", principal_name="p", principal_password="x")
work_item = WorkItem.objects.create(source=source, advance_id="w")
version = WorkItemVersion.objects.create(work_item=work_item, advance_id="v")
for pk, text in ((1, "The Pemberton lease"), (2, "Another agreement")):
    Document.objects.create(pk=pk, version=version, source=source, advance_id=f"d{pk}", status="stored")
    DocumentText.objects.create(document_id=pk, status="extracted", text=text)
print([d.advance_id for d in documents_text_search(term="pemberton")])
print(documents_text_headlines(term="pemberton", document_ids=[1]))
# The admin's list as a search shows it: names and ids united, the text, the type filter.
from django.contrib.admin.sites import site
from django.contrib.auth.models import User
from django.test import RequestFactory
WorkItem.objects.filter(pk=work_item.pk).update(name="Hawthorne matter")
user = User.objects.create_superuser("admin")
for term in ("pemberton", "hawthorne", "d2", "*"):
    request = RequestFactory().get("/admin/documents/document/", {"q": term})
    request.user = user
    changelist = site._registry[Document].get_changelist_instance(request)
    print(term, sorted(d.advance_id for d in changelist.result_list), changelist.result_count)
"""
    env = embedded_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings.base", DJANGO_DEBUG="1")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "['d1']" in result.stdout
    assert "<mark>Pemberton</mark>" in result.stdout
    assert "pemberton ['d1'] 1" in result.stdout
    assert "hawthorne ['d1', 'd2'] 2" in result.stdout  # the work item's name
    assert "d2 ['d2'] 1" in result.stdout  # a document id, from its start
    assert "* [] 0" in result.stdout


def test_a_database_role_that_may_not_create_pg_trgm_still_migrates_and_searches(tmp_path):
    """pg_trgm is trusted, yet a role without CREATE on its database may not add it: the migration
    says so and goes on; the search works without the trigram indexes."""
    from django.db import connection

    suffix = os.urandom(4).hex()
    role, database = f"limited_{suffix}", f"limited_{suffix}"
    settings_dict = connection.settings_dict
    server = f"postgres://{{}}@{settings_dict['HOST']}:{settings_dict['PORT']}/{{}}"
    url = server.format("{}", database)
    superuser = psycopg.connect(server.format(settings_dict["USER"], "postgres"), autocommit=True)
    superuser.execute(f"CREATE ROLE {role} LOGIN")
    superuser.execute(f"CREATE DATABASE {database}")
    try:
        with psycopg.connect(url.format(settings_dict["USER"]), autocommit=True) as admin:
            admin.execute(f"ALTER SCHEMA public OWNER TO {role}")
            admin.execute(f"REVOKE CREATE ON DATABASE {database} FROM PUBLIC")
        env = {**os.environ, "DATABASE_URL": url.format(role), "VAR_DIR": str(tmp_path)}
        script = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=1)
from documents.search.selectors import documents_name_match
print("found", list(documents_name_match(term="hawthorne", search_fields=["name", "^sha256"]).ids))
"""
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "pg_trgm not created" in result.stdout and "found []" in result.stdout
        with psycopg.connect(url.format(settings_dict["USER"])) as admin:
            indexes = {row[0] for row in admin.execute("SELECT indexname FROM pg_indexes")}
        assert "document_sha256_prefix" in indexes and "document_name_trgm" not in indexes
    finally:
        superuser.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        superuser.execute(f"DROP ROLE IF EXISTS {role}")
        superuser.close()


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        (
            "rtf",
            rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Tenancy of the {\b Old Mill} at Kendal.\par}",
            "Tenancy of the Old Mill at Kendal.\n",
        ),
        (
            "html",
            b"<html><head><style>p{color:red}</style><script>var secret=1</script></head>"
            b"<body><p>Deed of <b>gift</b></p></body></html>",
            "Deed of\ngift",
        ),
        ("txt", "Caf\u00e9 lease, \u00a3 1,200".encode("cp1252"), "Caf\u00e9 lease, \u00a3 1,200"),
        ("txt", "\ufeffUTF-8 na\u00efve".encode("utf-8"), "UTF-8 na\u00efve"),
        ("txt", "Zo\u00eb in UTF-16".encode("utf-16"), "Zo\u00eb in UTF-16"),
    ],
)
def test_rtf_html_and_text_files_give_their_text_and_nothing_of_scripts_or_styles(tmp_path, kind, data, expected):
    path = tmp_path / f"document.{kind}"
    path.write_bytes(data)
    text, truncated = text_extract(path=str(path), kind=kind, max_chars=10_000, max_pages=10)
    assert (text, truncated) == (expected, False)


def test_text_past_the_character_limit_is_cut_and_marked_truncated(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"word " * 1000)
    text, truncated = text_extract(path=str(path), kind="txt", max_chars=100, max_pages=10)
    assert (len(text), truncated) == (100, True)


@pytest.mark.django_db
def test_an_unexpected_error_is_recorded_on_the_text_not_left_awaiting(bucket, source, settings):
    settings.SEARCH_CONFIG = "klingon"  # PostgreSQL has no such text search configuration
    document = document_make(source, document_id="odd", content=pdf_bytes("Qapla"))

    assert document_text_extract(document_id=document.pk) == DocumentText.Status.FAILED

    text = DocumentText.objects.get(pk=document.pk)
    assert (text.status, text.reason) == ("failed", DocumentText.Reason.ERROR)
    assert "klingon" in text.detail


def syncing(document: Document) -> None:
    """The document as a live attempt holds it: syncing, its lease running."""
    Document.objects.filter(pk=document.pk).update(
        status="syncing", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )


@pytest.mark.django_db(transaction=True)
def test_an_extraction_waits_while_a_document_syncs_and_runs_once_none_does(celery_worker, bucket, source, frozen_now):
    from documents.search.tasks import document_text_extract as extract_task

    document = document_make(source, document_id="busy", content=pdf_bytes("Quarterly rent review clause"))
    other = document_make(source, document_id="other")
    DocumentText.objects.create(document=document, queued_at=timezone.now() - timedelta(minutes=1))
    syncing(other)

    extract_task(document.pk)
    text = DocumentText.objects.get(pk=document.pk)
    assert (text.status, text.attempts) == ("awaiting", 0)  # deferred, not extracted
    # Marked queued for when its message is due (the first deferral: 3-6 s, the backoff's equal
    # jitter), so the sweep leaves it until then.
    assert frozen_now + timedelta(seconds=3) <= text.queued_at <= frozen_now + timedelta(seconds=6)

    # Queued again a few seconds later: with no document syncing, the suite's worker extracts it.
    Document.objects.filter(pk=other.pk).update(status="stored", lease_expires_at=None)
    wait_for(lambda: DocumentText.objects.get(pk=document.pk).status == "extracted", timeout=60)
    assert "rent review" in DocumentText.objects.get(pk=document.pk).text


@pytest.mark.django_db
def test_an_extraction_waits_for_the_syncs_no_longer_than_its_wait_after_the_document_was_stored(
    bucket, source, settings, frozen_now
):
    from documents.search.tasks import document_text_extract as extract_task

    settings.SEARCH_TEXT_WAIT_SECONDS = 30
    recent = document_make(source, document_id="recent", content=pdf_bytes("Break clause at year five"))
    waited = document_make(source, document_id="waited", content=pdf_bytes("Rent free period of six months"))
    Document.objects.filter(pk=recent.pk).update(synced_at=frozen_now - timedelta(seconds=28))
    Document.objects.filter(pk=waited.pk).update(synced_at=frozen_now - timedelta(seconds=31))
    for document in (recent, waited):
        DocumentText.objects.create(document=document, queued_at=frozen_now)
    syncing(document_make(source, document_id="never-pauses"))

    extract_task(recent.pk)
    extract_task(waited.pk)

    # Stored 28 s ago: deferred, and due again when its 30 s are up (2 s), not after the backoff's
    # 3-6 s (its row is marked queued for when its message is due).
    deferred = DocumentText.objects.get(pk=recent.pk)
    assert (deferred.status, deferred.queued_at) == ("awaiting", frozen_now + timedelta(seconds=2))
    # Stored 31 s ago: extracted beside the sync.
    assert "Rent free period" in DocumentText.objects.get(pk=waited.pk).text


@pytest.mark.django_db
def test_a_sources_own_language_stems_its_documents_words_and_finds_them(bucket, source, other_source):
    from documents.search.selectors import documents_text_headlines, documents_text_search
    from sources.models import SourceSync

    SourceSync.objects.update_or_create(source=other_source, defaults={"search_config": "german"})
    english = document_make(
        source, document_id="en", content=b"The tenants saw the houses.", content_type="text/plain", extension="txt"
    )
    german = document_make(
        other_source,
        work_item_id="wi-de",
        document_id="de",
        content="Die Mieter besichtigten die Häuser.".encode(),
        content_type="text/plain",
        extension="txt",
    )
    for document in (english, german):
        DocumentText.objects.create(document=document)
        document_text_extract(document_id=document.pk)

    assert DocumentText.objects.get(pk=german.pk).config == "german"
    assert DocumentText.objects.get(pk=english.pk).config == "english"
    # German stemming finds "Häuser" by "Haus"; English finds "houses" by "house": each with its own.
    assert [document.advance_id for document in documents_text_search(term="Haus")] == ["de"]
    assert [document.advance_id for document in documents_text_search(term="house")] == ["en"]
    assert "<mark>Häuser</mark>" in documents_text_headlines(term="Haus", document_ids=[german.pk])[german.pk]


@pytest.mark.django_db
def test_a_text_search_language_postgresql_lacks_is_refused_on_the_sync_settings(source):
    from django.core.exceptions import ValidationError

    from sources.models import SourceSync

    settings_row = SourceSync(source=source, search_config="klingon")
    with pytest.raises(ValidationError) as refused:
        settings_row.full_clean()

    assert "search_config" in refused.value.message_dict


@pytest.mark.django_db
def test_the_admin_lists_the_best_match_first_whatever_the_order_documents_came_in(source, admin_client):
    once = document_make(source, document_id="once", name="Lease")
    document_text_indexed(once, "A lease naming Quillfeather once among many other words about rent and repairs.")
    often = document_make(source, document_id="often", name="Deed")
    document_text_indexed(often, "Quillfeather grants Quillfeather the deed; Quillfeather signs.")
    by_name = document_make(source, work_item_id="wi-quill", work_item_name="Quillfeather estate", document_id="n")

    assert found(changelist(admin_client, "Quillfeather")) == ["often", "once", "n"]
    # A column the user clicks orders the list instead (here: the id column, ascending).
    response = admin_client.get(reverse("admin:documents_document_changelist"), {"q": "Quillfeather", "o": "1"})
    assert len(found(response)) == 3 and found(response) != ["often", "once", "n"]
    assert by_name.pk in {document.pk for document in response.context["cl"].result_list}


@pytest.mark.django_db
def test_a_match_deep_in_a_long_document_gets_its_own_passage(source, admin_client):
    document = document_make(source, document_id="long")
    filler = "The parties agree to the terms set out in the schedule. " * 1500  # about 85,000 characters
    document_text_indexed(document, filler + "Finally the Zanzibar covenant binds the heirs.")

    page = changelist(admin_client, "Zanzibar covenant").content.decode()

    assert "<mark>Zanzibar</mark> <mark>covenant</mark>" in page


@pytest.mark.django_db
def test_a_searched_list_is_counted_and_paged_in_rank_order(source, admin_client, monkeypatch):
    from django.contrib.admin.sites import site

    monkeypatch.setattr(site._registry[Document], "list_per_page", 2)
    for n in range(5):
        document = document_make(source, document_id=f"d{n}", work_item_id=f"wi-{n}", version_id=f"v-{n}")
        document_text_indexed(document, " ".join(["Marlowe"] * (n + 1) + ["and other words of a contract"] * (5 - n)))
    document_make(source, document_id="unrelated", work_item_id="wi-x", version_id="v-x")
    url = reverse("admin:documents_document_changelist")

    pages = [admin_client.get(url, {"q": "Marlowe", "p": number}) for number in (1, 2, 3)]

    assert [page.context["cl"].result_count for page in pages] == [5, 5, 5]
    assert [found(page) for page in pages] == [["d4", "d3"], ["d2", "d1"], ["d0"]]
    assert admin_client.get(url, {"q": "Marlowe", "p": 4}).status_code == 302  # past the end: the admin's answer


def marlowe_documents(source, count: int, prefix: str = "d") -> None:
    """`count` documents whose texts name Marlowe, the oldest most often (the best match is the oldest)."""
    for n in range(count):
        document = document_make(
            source, document_id=f"{prefix}{n}", work_item_id=f"wi-{prefix}{n}", version_id=f"v-{prefix}{n}"
        )
        document_text_indexed(document, " ".join(["Marlowe"] * (count - n) + ["and other words of a contract"] * n))


@pytest.mark.django_db
def test_a_search_with_more_matches_than_are_ranked_lists_the_newest_first_and_estimates_their_number(
    source, admin_client, settings
):
    marlowe_documents(source, 5)
    document_make(source, document_id="by-name", work_item_id="wi-n", version_id="v-n", name="Marlowe letter")
    settings.SEARCH_RANKED_MATCHES = 6

    ranked = changelist(admin_client, "Marlowe")

    assert found(ranked) == ["d0", "d1", "d2", "d3", "d4", "by-name"]  # best first, the name's match last
    assert ranked.context["cl"].result_count == 6 and "search-newest-first" not in ranked.content.decode()

    settings.SEARCH_RANKED_MATCHES = 5
    newest = changelist(admin_client, "Marlowe")

    assert found(newest) == ["by-name", "d4", "d3", "d2", "d1", "d0"]
    page = newest.content.decode()
    estimate = newest.context["cl"].matches_estimate
    assert estimate >= 1 and f"about {estimate} results, newest first" in page
    assert f"about {estimate} documents" in page  # the paginator's line
    assert "search-newest-first" in page and "More documents match than are ranked (5)" in page
    assert newest.context["cl"].date_hierarchy is None  # its first and last dates would read every match
    # A column clicked orders every match by it, still unranked and estimated.
    by_column = admin_client.get(reverse("admin:documents_document_changelist"), {"q": "Marlowe", "o": "-3"})
    assert sorted(found(by_column)) == sorted(found(newest))
    assert by_column.context["cl"].matches_estimate is not None and not by_column.context["cl"].newest_first
    assert "they are not ranked" in by_column.content.decode()


@pytest.mark.django_db
def test_a_search_the_planner_expects_far_past_the_bound_is_listed_newest_first_without_counting(
    source, admin_client, settings
):
    marlowe_documents(source, 5)
    settings.SEARCH_RANKED_MATCHES = 100

    assert changelist(admin_client, "Marlowe").context["cl"].matches_estimate is None  # counted: five, ranked

    settings.SEARCH_ESTIMATE_TRUSTED_OVER = 0  # any estimate is trusted to be past the bound
    newest = changelist(admin_client, "Marlowe")

    assert found(newest) == ["d4", "d3", "d2", "d1", "d0"]
    assert newest.context["cl"].matches_estimate >= 1 and newest.context["cl"].newest_first


@pytest.mark.django_db
def test_the_names_searched_anywhere_are_sampled_finely_enough_to_tell_a_rare_word_from_a_common_one():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attstattarget FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relname IN ('work_item_name_trgm', 'document_name_trgm', 'document_filename_trgm')"
        )
        targets = dict(cursor.fetchall())

    assert targets == {"work_item_name_trgm": 1000, "document_name_trgm": 1000, "document_filename_trgm": 1000}


@pytest.mark.django_db
def test_a_list_of_more_matches_than_are_ranked_pages_no_further_than_that(source, admin_client, settings, monkeypatch):
    from django.contrib.admin.sites import site

    monkeypatch.setattr(site._registry[Document], "list_per_page", 2)
    marlowe_documents(source, 5)
    settings.SEARCH_RANKED_MATCHES = 4
    url = reverse("admin:documents_document_changelist")

    pages = [admin_client.get(url, {"q": "Marlowe", "p": number}) for number in (1, 2, 3)]

    # The first four, newest first; a page past them shows the last of them, and says so.
    assert [found(page) for page in pages] == [["d4", "d3"], ["d2", "d1"], ["d2", "d1"]]
    assert "the first 2 pages are listed" in pages[2].content.decode()


@pytest.mark.django_db
def test_whether_a_search_is_ranked_depends_on_the_matches_of_the_users_own_sources(
    source, other_source, admin_client, client, settings
):
    from django.contrib.auth.models import User

    from sources.services import source_access_grant

    marlowe_documents(source, 2, prefix="a")
    marlowe_documents(other_source, 4, prefix="b")
    settings.SEARCH_RANKED_MATCHES = 3
    user = User.objects.create_user("viewer-a", password="x", is_staff=True)  # noqa: S106
    source_access_grant(source=source, user=user, level="view")
    client.force_login(user)

    own = changelist(client, "Marlowe")

    # Two matches of their own source: ranked and counted, as if the other source's four were not there.
    assert found(own) == ["a0", "a1"]
    assert own.context["cl"].result_count == 2 and own.context["cl"].matches_estimate is None
    assert "search-newest-first" not in own.content.decode()
    # Who sees both sources gets six matches, more than are ranked.
    assert changelist(admin_client, "Marlowe").context["cl"].matches_estimate is not None


@pytest.mark.django_db
def test_ids_and_hashes_are_found_from_their_start_and_names_by_every_word_anywhere(source, admin_client):
    wanted = document_make(source, work_item_name="Lease for Hawthorne", work_item_id="wi-hawthorne", document_id="a")
    document_make(source, work_item_name="Employment contract", work_item_id="wi-jones", document_id="b")

    assert found(changelist(admin_client, wanted.sha256[:12])) == ["a"]
    assert found(changelist(admin_client, wanted.sha256[20:40])) == []  # a hash is pasted whole or from its start
    assert found(changelist(admin_client, "WI-HAWTH")) == ["a"]
    assert found(changelist(admin_client, "hawthorne lease")) == ["a"]  # each word in some field
    assert found(changelist(admin_client, "hawthorne jones")) == []
    assert found(changelist(admin_client, '"for Hawthorne"')) == ["a"]  # a quoted phrase is one word


@pytest.mark.django_db
def test_a_name_search_of_several_words_finds_exactly_the_documents_with_every_word_in_some_field(source):
    """The rarest word finds the candidates and the others are tested on them: the same documents as
    Django's admin finds (every word in some search field), whichever word the planner thinks rarest."""
    from django.contrib.admin import ModelAdmin, site
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    from documents.search.selectors import documents_name_match

    rng = random.Random(5)
    titles, people, logins = ["Lease", "Loan agreement", "Guarantee"], ["Pemley", "Ashford", "Kingsley"], ["ann", "bob"]
    for n in range(60):
        title, person = rng.choice(titles), rng.choice(people)
        document_make(
            source,
            work_item_name=f"{title} {person}",
            work_item_id=f"wi-{n // 3}",
            version_id=f"v-{n // 3}",
            document_id=f"d-{n}",
            name=f"{rng.choice(titles)} part {n % 3}",
            login=f"{rng.choice(logins)}@firm.example",
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    model_admin = site.get_model_admin(Document)
    request = RequestFactory().get("/")
    request.user = User.objects.create_superuser("searcher")
    terms = [
        "lease pemley",
        "Guarantee ann@",
        "part PEMLEY lease",
        '"loan agreement" kingsley',
        "lease lease",
        "pemley nobody",
    ]
    for term in terms:
        # Django's own admin search (every word in some field, with the same lookups) is the reference.
        reference, _ = ModelAdmin.get_search_results(model_admin, request, Document.objects.all(), term)
        want = set(reference.values_list("advance_id", flat=True))
        ours = documents_name_match(term=term, search_fields=model_admin.get_search_fields(request))
        assert set(Document.objects.filter(pk__in=ours.ids).values_list("advance_id", flat=True)) == want, term
        read = Document.objects.filter(pk__in=ours.read(limit=60)).values_list("advance_id", flat=True)
        assert set(read) == want, term  # the bounded read of their keys finds the same
        assert want or term == "pemley nobody"
    # Past the bound in candidates of its rarest word, the read gives up rather than read them all.
    assert (
        documents_name_match(term="lease", search_fields=model_admin.get_search_fields(request)).read(limit=3) is None
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "term",
    [
        '"',
        "'",
        '"unterminated',
        "%",
        "_",
        "\\",
        "' OR 1=1 --",
        "*",
        "-",
        "-*",
        "a:*",
        "!&|()<->",
        "\x00",
        "x\x00y",
        "é" * 500,
    ],
)
def test_whatever_is_typed_in_the_search_box_gets_a_page_not_an_error(source, admin_client, term):
    document = document_make(source, document_id="a")
    document_text_indexed(document, "An ordinary lease with ordinary words.")

    assert changelist(admin_client, term).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_text_stored_while_documents_sync_is_held_and_released_when_the_last_sync_ends(celery_worker, bucket, source):
    from documents.search.services import document_text_queue, texts_release
    from documents.sync import document_sync

    document = document_make(source, document_id="held", content=pdf_bytes("Indemnity cap of two million"))
    other = document_make(source, document_id="still-syncing")
    syncing(other)

    document_text_queue(document_id=document.pk)
    assert texts_release() == 0
    time.sleep(2)
    text = DocumentText.objects.get(pk=document.pk)
    # Held: no message went out, so the suite's worker has not extracted it.
    assert (text.status, text.queued_at, text.attempts) == ("awaiting", None, 0)

    # The other sync ends; the end of any sync (here one with nothing left to do) releases what is held.
    Document.objects.filter(pk=other.pk).update(status="stored", lease_expires_at=None)
    document_sync(document_id=other.pk)

    assert DocumentText.objects.get(pk=document.pk).queued_at is not None
    wait_for(lambda: DocumentText.objects.get(pk=document.pk).status == "extracted", timeout=60)
    assert "Indemnity cap" in DocumentText.objects.get(pk=document.pk).text


@pytest.mark.django_db
def test_a_text_held_past_its_wait_is_queued_by_the_sweep_however_busy_the_syncs(
    source, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from documents.search.services import document_text_queue

    sent: list[int] = []
    monkeypatch.setattr("documents.search.tasks.document_text_extract.delay", sent.append)
    long_held, just_held = (document_make(source, document_id=f"d{n}") for n in (1, 2))
    syncing(document_make(source, document_id="never-pauses"))
    for document in (long_held, just_held):
        document_text_queue(document_id=document.pk)
    waited = settings.SEARCH_TEXT_WAIT_SECONDS + 1
    Document.objects.filter(pk=long_held.pk).update(synced_at=timezone.now() - timedelta(seconds=waited))

    with django_capture_on_commit_callbacks(execute=True):
        assert documents_text_requeue_stalled() == 1

    assert sent == [long_held.pk]
    assert DocumentText.objects.get(pk=just_held.pk).queued_at is None  # still held

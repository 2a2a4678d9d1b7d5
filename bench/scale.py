"""`make bench-scale`: how every admin page and operators' job grows with ten years of data.

Two phases in one run on the same PostgreSQL: a firm's most recent year (BENCH_SCALE_SMALL_DOCUMENTS
documents, 100,000, and BENCH_SCALE_SMALL_DELIVERIES logged webhook calls, 1,000,000), measured;
then the nine years before it and the rest of two years of calls (to BENCH_SCALE_DOCUMENTS,
1,000,000, and BENCH_SCALE_DELIVERIES, 10,000,000), ANALYZE, the same measurements. Every figure
is printed with both measurements and their ratio: the growth. The intake is measured on an empty
delivery table first and on the full one last (bench/run.py's gunicorn and wrk).

Seeding is COPY on Django's connection, rows made in Python with explicit keys: the later phase
fills the keys below the first phase's, so that keys follow time as in a real database. The texts
come from a pool of contract-like texts (2-20 KiB, log-uniform) whose search vectors PostgreSQL
computes once each: a document's vector is its text's, as extraction writes it. Every index the
product owns is present while seeding.

Pages are requested in-process through Django's test client (the whole middleware stack, the
admin's templates rendered), as a superuser and as a staff user granted the manage level on two
of the six sources (the access filter applied): p95 over BENCH_SCALE_REQUESTS requests after a
warm-up.
"""

import io
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import django  # noqa: E402

django.setup()

import boto3  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from advance_sim import SimulatedAdvance  # noqa: E402
from advance_sim.server import SimVersion, SimWorkItem  # noqa: E402
from bench import search  # noqa: E402
from bench.run import Gunicorn, purge_queues, wrk  # noqa: E402
from core.admin import statement_timeout  # noqa: E402
from core.queues import queues_read  # noqa: E402
from core.runtime import loaded_app_frozen  # noqa: E402
from documents import selectors  # noqa: E402
from documents.models import Document, DocumentText, WorkItem, WorkItemVersion  # noqa: E402
from documents.status_counts import status_counts_compact  # noqa: E402
from sources.models import Source  # noqa: E402
from sources.services import source_access_grant, source_save  # noqa: E402
from webhooks.models import Delivery  # noqa: E402
from webhooks.services import token_issue  # noqa: E402

SMALL_DOCUMENTS = int(os.environ.get("BENCH_SCALE_SMALL_DOCUMENTS", "100000"))
DOCUMENTS = int(os.environ.get("BENCH_SCALE_DOCUMENTS", "1000000"))
SMALL_DELIVERIES = int(os.environ.get("BENCH_SCALE_SMALL_DELIVERIES", "1000000"))
DELIVERIES = int(os.environ.get("BENCH_SCALE_DELIVERIES", "10000000"))
REQUESTS = int(os.environ.get("BENCH_SCALE_REQUESTS", "20"))
RECONCILE_ITEMS = int(os.environ.get("BENCH_SCALE_RECONCILE_ITEMS", "10000"))
ICONTAINS_TERMS = int(os.environ.get("BENCH_SCALE_ICONTAINS_TERMS", "2"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
RESULTS = os.environ.get("BENCH_SCALE_RESULTS", "")  # a file to write every figure to, as JSON

SEARCH_CONFIG = settings.SEARCH_CONFIG
PAGE_MS = 300  # the targets
SEARCH_MS = 150
GROWTH = 2.0
TEXT_POOL = 3000
USERS = 50
SOURCE_WEIGHTS = [0.35, 0.25, 0.15, 0.10, 0.10, 0.05]  # six sources, unequal, as tenancies are
DOCUMENT_YEARS = 10
DELIVERY_DAYS = 730
SLOW_PAGE_BUDGET_S = 12  # a page this slow is measured fewer times (at least 5): its p95 is known well enough
NOW = datetime.now(UTC).replace(microsecond=0)
# The admin's asset URLs made unhashed: the bench collects no static files.
PLAIN_STATIC = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


# Shape -----------------------------------------------------------------------------------------


@dataclass
class Shape:
    """The whole ten years, decided before any row is written: work items (oldest first), each its
    versions' document counts; the phase split; the first keys of every table."""

    work_items: list[list[int]]  # per work item, the number of documents of each version
    split: int  # work items [split:] are the most recent year's: the first phase
    sources: list[int]
    base: dict[str, int] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(sum(versions) for versions in self.work_items)


def shape_make(sources: list[int]) -> Shape:
    rng = random.Random(23)
    items: list[list[int]] = []
    total = 0
    while total < DOCUMENTS:
        versions = [rng.randint(1, 6) for _ in range(rng.randint(1, 5))]
        items.append(versions)
        total += sum(versions)
    recent = 0
    split = len(items)
    while split > 0 and recent + sum(items[split - 1]) <= SMALL_DOCUMENTS:
        split -= 1
        recent += sum(items[split])
    return Shape(work_items=items, split=split, sources=sources)


def next_key(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608 - our table names
        return cursor.fetchone()[0]


def keys_reserve(table: str, count: int) -> int:
    """The first of `count` keys above every existing one; the sequence moved past them."""
    first = next_key(table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, first + count])
    return first


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _ts(moment: datetime) -> str:
    return moment.isoformat()


class Copier:
    """Rows for one table, written by COPY ... FROM STDIN once enough are gathered (a connection runs
    one COPY at a time: the tables' rows are gathered side by side, then written in turn)."""

    def __init__(self, table: str, columns: list[str]):
        self.statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        self.lines: list[str] = []

    def row(self, *values: str) -> None:
        self.lines.append("\t".join(values))

    def flush(self) -> None:
        if self.lines:
            with connection.cursor() as cursor, cursor.cursor.copy(self.statement) as copy:
                for start in range(0, len(self.lines), 5000):
                    copy.write(("\n".join(self.lines[start : start + 5000]) + "\n").encode())
            self.lines = []


# Texts -------------------------------------------------------------------------------------------


def text_pool() -> list[tuple[str, str, int]]:
    """TEXT_POOL contract-like texts of 2-20 KiB (log-uniform: most are short), each with its search
    vector as PostgreSQL computes it (the extraction task's to_tsvector), COPY-escaped."""
    rng = random.Random(5)
    texts = []
    for _ in range(TEXT_POOL):
        target = int(math.exp(rng.uniform(math.log(2048), math.log(20480))))
        paragraphs, size = [], 0
        while size < target:
            paragraph = search.text_make(rng)
            paragraphs.append(paragraph)
            size += len(paragraph) + 2
        texts.append("\n\n".join(paragraphs)[:target])
    with connection.cursor() as cursor:
        vectors = []
        for start in range(0, len(texts), 200):
            chunk = texts[start : start + 200]
            cursor.execute(
                "SELECT to_tsvector(%s::regconfig, t)::text"
                " FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
                [settings.SEARCH_CONFIG, chunk],
            )
            vectors += [row[0] for row in cursor.fetchall()]
    return [(_copy_text(text), _copy_text(vector), len(text)) for text, vector in zip(texts, vectors, strict=True)]


# Seeding ---------------------------------------------------------------------------------------


def seed_documents(shape: Shape, pool, items: range) -> None:
    """The work items `items` (indexes into the shape) with their versions, documents and texts."""
    rng = random.Random(items.start * 7 + 1)
    span = timedelta(days=365 * DOCUMENT_YEARS).total_seconds()
    count = len(shape.work_items)
    # Keys: each table's rows in the shape's order, from its base.
    version_key = shape.base["version"] + sum(len(v) for v in shape.work_items[: items.start])
    document_key = shape.base["document"] + sum(sum(v) for v in shape.work_items[: items.start])
    source_cut = [sum(SOURCE_WEIGHTS[: n + 1]) for n in range(len(SOURCE_WEIGHTS))]
    wcopy = Copier(
        "documents_workitem", ["id", "source_id", "advance_id", "name", "legal_hold", "created_at", "updated_at"]
    )
    vcopy = Copier(
        "documents_workitemversion",
        [
            "id", "work_item_id", "advance_id", "completed_at", "created_by_id", "created_by_login",
            "created_by_account_type", "recorded_by", "documents_from", "post_processing_status",
            "post_processing_attempts", "post_processing_error", "created_at",
        ],
    )  # fmt: skip
    dcopy = Copier(
        "documents_document",
        [
            "id", "version_id", "source_id", "advance_id", "name", "url", "status", "filename", "content_type",
            "size", "sha256", "storage_key", "storage_version_id", "retention_mode", "attempts", "last_error",
            "synced_at", "created_at", "updated_at",
        ],
    )  # fmt: skip
    tcopy = Copier(
        "documents_documenttext",
        [
            "document_id", "source_id", "status", "reason", "detail", "text", "truncated", "config",
            "search_vector", "extractor_version", "attempts", "seconds", "queued_at", "extracted_at",
        ],
    )  # fmt: skip
    kinds = [
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("pdf", "application/pdf"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("pdf", "application/pdf"),
        ("rtf", "application/rtf"),
        ("png", "image/png"),
    ]
    titles = ["Lease", "Employment contract", "Share purchase agreement", "Guarantee", "Letter of engagement",
              "Non-disclosure agreement", "Loan agreement", "Power of attorney", "Settlement", "Licence"]  # fmt: skip
    sources = shape.sources
    for index in items:
        versions = shape.work_items[index]
        at = NOW - timedelta(seconds=span * (count - index) / count) + timedelta(seconds=rng.randint(0, 3600))
        work_item_key = shape.base["work_item"] + index
        pick = (index * 0.618034) % 1  # spread the sources evenly over time
        source = sources[next(n for n, cut in enumerate(source_cut) if pick < cut or n == len(sources) - 1)]
        advance_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        first, last = rng.choice(search.FIRST), rng.choice(search.LAST)
        title = rng.choice(titles)
        name = f"{title} {first} {last}"
        login = f"user{rng.randrange(USERS)}@firm.example"
        last_at = at
        for number, documents in enumerate(versions):
            version_at = min(at + timedelta(days=number * rng.randint(1, 20)), NOW - timedelta(minutes=5))
            last_at = version_at
            version_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            vcopy.row(
                str(version_key), str(work_item_key), version_id, _ts(version_at), f"u{login[4:6]}", login,
                "Licensed", "webhook" if rng.random() < 0.97 else "reconcile", "event", "", "0", "", _ts(version_at),
            )  # fmt: skip
            for d in range(documents):
                ext, content_type = kinds[d % len(kinds)]
                roll = rng.random()
                status = "stored" if roll < 0.95 else "failed" if roll < 0.975 else "dead" if roll < 0.99 else "pending"
                document_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                doc_name = f"{title} part {d + 1}" if d else title
                filename = f"{doc_name}.{ext}"
                stored = status == "stored"
                synced = version_at + timedelta(seconds=rng.randint(1, 90))
                updated = synced if stored else version_at + timedelta(minutes=rng.randint(1, 600))
                updated = min(updated, NOW)
                dcopy.row(
                    str(document_key), str(version_key), str(source), document_id, doc_name, "", status,
                    filename if stored else "", content_type if stored else "",
                    str(rng.randint(8000, 900000)) if stored else "\\N",
                    f"{rng.getrandbits(256):064x}" if stored else "",
                    f"advance/s{source}/{advance_id}/{version_id}/{document_id}/{filename}" if stored else "",
                    "", "", "1" if stored else "8", "" if stored else "Advance answered 404",
                    _ts(min(synced, NOW)) if stored else "\\N", _ts(version_at), _ts(updated),
                )  # fmt: skip
                if stored:
                    text, vector, _ = pool[rng.randrange(len(pool))]
                    roll = rng.random()
                    if ext == "png":
                        tcopy.row(str(document_key), str(source), "unsupported", "unsupported_type", "", "",
                                  "f", "", "\\N", "1", "1", "\\N", _ts(synced), _ts(synced))  # fmt: skip
                    elif roll < 0.94:
                        tcopy.row(str(document_key), str(source), "extracted", "", "", text, "f", SEARCH_CONFIG,
                                  vector, "1", "1", "0.4", _ts(synced), _ts(synced))  # fmt: skip
                    elif roll < 0.99:
                        tcopy.row(str(document_key), str(source), "failed", "no_text_layer", "no text layer", "",
                                  "f", "", "\\N", "1", "1", "0.2", _ts(synced), _ts(synced))  # fmt: skip
                    else:
                        tcopy.row(str(document_key), str(source), "awaiting", "", "", "", "f", "", "\\N",
                                  "0", "0", "\\N", _ts(synced), "\\N")  # fmt: skip
                document_key += 1
            version_key += 1
        wcopy.row(str(work_item_key), str(source), advance_id, name, "f", _ts(at), _ts(last_at))
        if len(dcopy.lines) >= 20000 or index == items.stop - 1:
            for copier in (wcopy, vcopy, dcopy, tcopy):  # in the order of their foreign keys
                copier.flush()


PAYLOAD = (
    '{{"eventType":"NewWorkItemVersionComplete","eventId":"{event}","createdDate":"{at}",'
    '"data":{{"workItemId":"{item}","workItemVersionId":"{version}","workItemName":"Lease",'
    '"createdBy":{{"id":"u17","login":"user17@firm.example","accountType":"Licensed"}},'
    '"documents":[{{"id":"{doc}","name":"Lease","url":"https://firm.hotdocsadvance.com/api/rest/v1.1/'
    'WorkItems/{item}/Documents/{doc}/Content"}}]}}}}'
)
HEADERS = json.dumps({"Content-Type": "application/json", "User-Agent": "HotDocs Advance", "Content-Length": "512"})


def seed_deliveries(shape: Shape, rows: range) -> None:
    """Delivery rows `rows` (indexes over two years, oldest first): events processed, their
    duplicates, refusals, interview calls, a few failed."""
    base = shape.base["delivery"]
    span = timedelta(days=DELIVERY_DAYS).total_seconds()
    rng = random.Random(rows.start + 3)
    columns = [
        "id", "public_id", "source_id", "event_id", "event_type", "status", "http_status", "rejection_cause",
        "method", "query_string", "raw_body", "headers", "remote_addr", "duplicate_of_id", "received_at",
        "processed_at", "attempts", "last_error", "event_name", "answered_by", "credentials_encrypted",
    ]  # fmt: skip
    copier = Copier("webhooks_delivery", columns)
    sources = shape.sources
    for i in rows:
        at = NOW - timedelta(seconds=span * (DELIVERIES - i) / DELIVERIES)
        kind = i % 100
        source = str(sources[i % len(sources)])
        duplicate_of = "\\N"
        processed = "\\N"
        event_type, event_id, cause, name, answered, error = "NewWorkItemVersionComplete", f"e{i}", "", "", "", ""
        if kind < 85 or kind == 99:
            status, http, processed = (
                ("processed" if kind < 85 else "failed"),
                "202",
                _ts(at + timedelta(seconds=2)),
            )
            error = "" if kind < 85 else "Advance answered 500"
        elif kind < 90:
            status, http, event_id, duplicate_of = "duplicate", "200", f"e{i - 5}", str(base + i - 5)
        elif kind < 94:
            status, http, cause, event_id = "rejected", "401", "unknown token", ""
            source = "\\N" if kind == 93 else source
        else:
            status, http, event_type, event_id = "answered", "200", "CustomInterviewEvent", ""
            name, answered = "GetClient", "stored answer"
        if event_id and status != "duplicate":
            body = PAYLOAD.format(
                event=event_id, at=at.isoformat(), item=f"{i:08x}-0000-4000-8000-000000000000",
                version=f"{i:08x}-0000-4000-8000-000000000001", doc=f"{i:08x}-0000-4000-8000-000000000002",
            ).encode()  # fmt: skip
        else:
            body = b'{"eventType":"CustomInterviewEvent","eventName":"GetClient"}'
        copier.row(
            str(base + i), str(uuid.UUID(int=rng.getrandbits(128), version=4)), source, event_id, event_type,
            status, http, cause, "POST", "", "\\\\x" + body.hex(), HEADERS, "10.1.2.3", duplicate_of, _ts(at),
            processed, "1", error, name, answered, "",
        )  # fmt: skip
        if len(copier.lines) >= 50000:
            copier.flush()
    copier.flush()


def vacuum_analyze() -> float:
    """The seeded tables vacuumed and analysed, and the dashboard's counts summed as beat does every
    half minute (the seed's failed calls each added a row)."""
    started = time.monotonic()
    status_counts_compact()
    with connection.cursor() as cursor:
        for table in ("documents_workitem", "documents_workitemversion", "documents_document",
                      "documents_documenttext", "webhooks_delivery"):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


def sources_make(advance: SimulatedAdvance) -> list[Source]:
    """Six sources; the first at the simulated Advance (reconciliation lists its work items)."""
    made = []
    for n in range(len(SOURCE_WEIGHTS)):
        api = advance.api_base_url if n == 0 else f"https://scale-{n}.example/api"
        auth = advance.auth_base_url if n == 0 else f"https://scale-{n}.example/auth"
        made.append(
            source_save(
                slug=f"scale-{n}",
                api_base_url=api,
                auth_base_url=auth,
                client_name=advance.client_name if n == 0 else "bench",
                principal_name=advance.principal_name if n == 0 else "bench",
                principal_password=advance.principal_password if n == 0 else "bench",
                update=True,
            )[0]
        )
    return made


# Measuring -------------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    return search.p(values, 95)


def page_timings(client: Client, url: str, expected: int = 200) -> list[float]:
    """Milliseconds of REQUESTS requests of the page after two for warming; fewer for a slow page."""
    for _ in range(2):
        _get(client, url, expected)
    return timings_budgeted(client, [url] * REQUESTS, expected)


def timings_budgeted(client: Client, urls: list[str], expected: int = 200) -> list[float]:
    """Milliseconds of a request of each URL in turn; past SLOW_PAGE_BUDGET_S, no more than the first five."""
    timings: list[float] = []
    started = time.monotonic()
    for url in urls:
        timings.append(_get(client, url, expected))
        if len(timings) >= 5 and time.monotonic() - started > SLOW_PAGE_BUDGET_S:
            break
    return timings


def _get(client: Client, url: str, expected: int) -> float:
    started = time.perf_counter()
    response = client.get(url)
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expected:
        raise SystemExit(f"{url} answered {response.status_code}, not {expected}")
    return elapsed


def _timed_ms(func, *args, **kwargs) -> float:
    started = time.perf_counter()
    func(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def list_pages(shape: Shape, staff_sources: list[int]) -> dict[str, dict[str, str]]:
    """Every list's variants, for each user: name -> url. The deep page is the one 90 % down the
    list as that user sees it, so that it moves with the data, as an offset does."""
    today = NOW.date()
    week = {"gte": (today - timedelta(days=6)).isoformat(), "lt": (today + timedelta(days=1)).isoformat()}
    source = shape.sources[1]
    lists = {
        "documents": (
            Document,
            [
                ("source", f"source__id__exact={source}"),
                ("status", "status__exact=failed"),
                ("type", "content_type=application%2Fpdf"),
                ("synced in 7 days", f"synced_at__gte={week['gte']}&synced_at__lt={week['lt']}"),
                ("created this year", f"created_at__year={today.year}"),
            ],
        ),
        "work items": (WorkItem, [("source", f"source__id__exact={source}"), ("legal hold", "legal_hold__exact=1")]),
        "versions": (
            WorkItemVersion,
            [
                ("source", f"work_item__source__id__exact={source}"),
                ("recorded by", "recorded_by__exact=reconcile"),
                ("documents from", "documents_from__exact=version"),
                ("post-processing", "post_processing_status__exact=failed"),
            ],
        ),
        "deliveries": (
            Delivery,
            [
                ("source", f"source__id__exact={source}"),
                ("event type", "event_type=NewWorkItemVersionComplete"),
                ("status", "status__exact=failed"),
                ("received in 7 days", f"received_at__gte={week['gte']}&received_at__lt={week['lt']}"),
                ("received this year", f"received_at__year={today.year}"),
            ],
        ),
        "sources": (Source, [("active", "is_active__exact=1")]),
    }
    from django.contrib import admin
    from django.test import RequestFactory

    pages: dict[str, dict[str, str]] = {"superuser": {}, "staff": {}}
    superuser = User.objects.get(username="scale-superuser")
    for name, (model, filters) in lists.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        model_admin = admin.site.get_model_admin(model)
        request = RequestFactory().get(url)
        request.user = superuser
        changelist = model_admin.get_changelist_instance(request)
        sortable = [
            (column, n)
            for n, column in enumerate(changelist.list_display)
            if column != "action_checkbox" and changelist.get_ordering_field(column) is not None
        ]
        for who in pages:
            rows = model._default_manager.all()
            if who == "staff" and model is not Source:
                path = {WorkItemVersion: "work_item__source", Delivery: "source"}.get(model, "source")
                rows = rows.filter(**{f"{path}__in": staff_sources})
            pages_count = max(1, math.ceil(rows.count() / model_admin.list_per_page))
            variants = {"first page": url, "deep page": f"{url}?p={max(1, int(pages_count * 0.9))}"}
            variants.update({f"filtered: {label}": f"{url}?{query}" for label, query in filters})
            variants.update({f"sorted: {column}": f"{url}?o={n}" for column, n in sortable})
            for variant, link in variants.items():
                pages[who][f"{name}, {variant}"] = link
    return pages


def measure(shape: Shape, phase: str, clients: dict[str, Client], staff_sources: list[int]) -> dict[str, dict]:
    figures: dict[str, dict] = {}

    def note(key: str, ms: float, **extra) -> None:
        figures[key] = {"ms": ms, **extra}
        print(f"  [{phase}] {key}: {ms:.1f} ms", file=sys.stderr, flush=True)

    started = time.monotonic()
    # As a web process does once its app is loaded (config/wsgi.py): what is alive now (the app,
    # and here the seed's shape and texts, which no web process holds) is out of the collector's
    # reach, so that a page's garbage collection walks its own objects only.
    loaded_app_frozen()
    # The lists, every variant, both users.
    for who, pages in list_pages(shape, staff_sources).items():
        for name, url in pages.items():
            note(f"list {name} ({who})", p95(page_timings(clients[who], url)), url=url)
    # The dashboard: the whole page, then each of its parts.
    for who, client in clients.items():
        note(f"dashboard, the whole page ({who})", p95(page_timings(client, reverse("admin:index"))))
    parts = {
        "cards": lambda: selectors.dashboard_figures(now=datetime.now(UTC)),
        "chart": lambda: selectors.documents_per_day(days=30),
        "failure list": lambda: selectors.documents_latest_failures(limit=10),
        "queues panel": queues_read,
    }
    for part, func in parts.items():
        func()
        note(f"dashboard, {part} (superuser)", p95([_timed_ms(func) for _ in range(REQUESTS)]))
    # The search.
    terms = search_terms(shape)
    documents_url = reverse("admin:documents_document_changelist")
    for who, client in clients.items():
        for kind, words in terms.items():
            urls = [f"{documents_url}?{urlencode({'q': term})}" for term in words]
            for url in urls[:3]:
                if _get(client, url, 200) > 1000:
                    break  # a search this slow is not slow for want of warming
            # As a slow page: a search of several seconds is measured over five terms, not all.
            timings = timings_budgeted(client, urls)
            note(f"search, {kind} ({who})", p95(timings), terms=len(timings))
    figures["search icontains baseline"] = icontains_baseline(terms["text"][:ICONTAINS_TERMS])
    print(f"  [{phase}] icontains: {figures['search icontains baseline']}", file=sys.stderr, flush=True)
    # A document's page, with its text and its recent accesses.
    for who, client in clients.items():
        sources = shape.sources if who == "superuser" else staff_sources
        document = (
            Document.objects.filter(source__in=sources, status="stored", text_record__status="extracted")
            .order_by("-pk")
            .first()
        )
        note(
            f"document page ({who})",
            p95(page_timings(client, reverse("admin:documents_document_change", args=[document.pk]))),
        )
        note(
            f"document text page ({who})",
            p95(page_timings(client, reverse("admin:documents_document_text", args=[document.pk]))),
        )
    figures["pages seconds"] = {"ms": (time.monotonic() - started) * 1000}
    figures.update(commands(shape, phase))
    return figures


def search_terms(shape: Shape) -> dict[str, list[str]]:
    """Text as staff type it (bench/search.py's queries), names of work items and documents, ids."""
    rng = random.Random(11)
    items = list(WorkItem.objects.order_by("-pk").values_list("name", "advance_id")[:2000])
    documents = list(
        Document.objects.filter(status="stored").order_by("-pk").values_list("advance_id", "sha256")[:2000]
    )
    return {
        "text": search.queries_make(REQUESTS),
        "names": [rng.choice(items)[0] for _ in range(REQUESTS)],
        "ids": [
            [rng.choice(items)[1][:8], rng.choice(documents)[0], rng.choice(documents)[1][:12]][n % 3]
            for n in range(REQUESTS)
        ],
    }


def icontains_baseline(terms: list[str]) -> dict:
    """A plain icontains over the texts (bench/search.py's baseline) for a few terms, stopped at 120 s."""
    from django.db import OperationalError
    from django.test import RequestFactory

    timings = []
    superuser = User.objects.get(username="scale-superuser")
    for term in terms:
        request = RequestFactory().get("/admin/documents/document/")
        request.user = superuser
        started = time.perf_counter()
        try:
            with statement_timeout(120_000):
                search._list_page(request, term, how="icontains")
            timings.append((time.perf_counter() - started) * 1000)
        except OperationalError:
            timings.append(120_000.0)
    return {"ms": max(timings), "terms": len(terms), "stopped": any(t >= 120_000 for t in timings)}


def commands(shape: Shape, phase: str) -> dict[str, dict]:
    figures: dict[str, dict] = {}

    def run(key: str, *args, times: int = 3) -> None:
        timings = []
        for _ in range(times):
            out = io.StringIO()
            started = time.perf_counter()
            call_command(*args, stdout=out, stderr=io.StringIO())
            timings.append((time.perf_counter() - started) * 1000)
        figures[key] = {"ms": statistics.median(timings), "output": out.getvalue()[-300:]}
        print(f"  [{phase}] {key}: {figures[key]['ms']:.0f} ms", file=sys.stderr, flush=True)

    sample_since = (NOW - timedelta(days=30)).date().isoformat()
    small_source = Source.objects.get(pk=shape.sources[-1]).slug
    run("command sync_status", "sync_status")
    run("command sync_status --json", "sync_status", "--json")
    run(
        "command resync --dry-run --source --since --failed-only",
        "resync", "--dry-run", "--no-progress", "--source", Source.objects.get(pk=shape.sources[1]).slug,
        "--since", (NOW - timedelta(days=90)).date().isoformat(), "--failed-only",
    )  # fmt: skip
    run("command resync --dry-run --since (30 days)", "resync", "--dry-run", "--no-progress", "--since", sample_since)
    run("command documents_reindex --source --since (a sample)", "documents_reindex", "--no-progress",
        "--source", small_source, "--since", sample_since, times=1)  # fmt: skip
    purge_queues()
    run("command advance_reconcile --dry-run (10,000 work items listed)", "advance_reconcile",
        Source.objects.get(pk=shape.sources[0]).slug, "--dry-run", "--no-progress",
        "--since", (NOW - timedelta(days=365 * DOCUMENT_YEARS + 30)).isoformat(), times=1)  # fmt: skip
    # The same ten days of calls pruned in both phases: the oldest ten of the first phase's.
    first_days = DELIVERY_DAYS * SMALL_DELIVERIES / DELIVERIES
    older = int(first_days - 10) if phase == "small" else DELIVERY_DAYS - 10
    run("command prune_deliveries --older-than (the oldest ten days of calls)", "prune_deliveries",
        "--older-than", str(older), times=1)  # fmt: skip
    return figures


def reconcile_listed(advance: SimulatedAdvance, source: Source) -> int:
    """The simulated Advance lists RECONCILE_ITEMS of the source's work items, each with its latest
    recorded version: reconciliation finds every one known."""
    rows = (
        WorkItemVersion.objects.filter(work_item__source=source)
        .order_by("-work_item_id", "-pk")
        .distinct("work_item_id")
        .values_list("work_item__advance_id", "work_item__name", "advance_id", "completed_at")[:RECONCILE_ITEMS]
    )
    listed = [
        SimWorkItem(id=advance_id, name=name, versions=[SimVersion(version_id, [], completed_at)])
        for advance_id, name, version_id, completed_at in rows
    ]
    # The first phase's source may hold fewer: work items no database row knows make up the number,
    # the same in both phases (the listing alike, only the database grown).
    rng = random.Random(17)
    while len(listed) < RECONCILE_ITEMS:
        version = SimVersion(str(uuid.UUID(int=rng.getrandbits(128), version=4)), [], NOW - timedelta(days=400))
        listed.append(
            SimWorkItem(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), name="Unknown", versions=[version])
        )
    for item in listed:
        advance.work_item_put(item)
    return len(listed)


# Intake ------------------------------------------------------------------------------------------


def intake(web: Gunicorn, advance: SimulatedAdvance, key: str, label: str) -> dict:
    """bench/run.py's intake measurement (wrk -c32, unique events, no worker): means of two rounds."""
    env = {"BENCH_TOKEN": key, "BENCH_API": advance.api_base_url}
    url = f"{web.url}/webhooks/advance/"
    first = next_key("webhooks_delivery")
    wrk(url, "post_events.lua", connections=32, seconds=5, BENCH_RUN=f"scale-warm-{label}", **env)
    results = [
        wrk(url, "post_events.lua", connections=32, seconds=WRK_SECONDS, BENCH_RUN=f"scale-{label}{n}", **env)
        for n in range(2)
    ]
    # Stored, never published (no worker ran): gone in one statement. Django's delete() fetched
    # every row first and took seven times as long.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Delivery._meta.db_table} WHERE id >= %s", [first])  # noqa: S608
    purge_queues()
    return {
        "rps": sum(r["rps"] for r in results) / len(results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


# The table ---------------------------------------------------------------------------------------


def table(small: dict, big: dict, intake_empty: dict, intake_full: dict, seeding: dict) -> list[list[str]]:
    rows = [["figure", f"{SMALL_DOCUMENTS:,} docs / {SMALL_DELIVERIES:,} calls",
             f"{DOCUMENTS:,} docs / {DELIVERIES:,} calls", "ratio", "target", "met"]]  # fmt: skip
    for key, figure in big.items():
        if key not in small or key == "search icontains baseline":
            continue
        a, b = small[key]["ms"], figure["ms"]
        ratio = b / a if a else float("inf")
        if key.startswith("list ") or key.startswith("dashboard, the whole") or key.startswith("document"):
            target, met = f"p95 < {PAGE_MS} ms, <= {GROWTH:g}x", b < PAGE_MS and ratio <= GROWTH
        elif key.startswith("search"):
            target, met = f"p95 < {SEARCH_MS} ms", b < SEARCH_MS
        else:
            target, met = "", None
        unit = "ms p95" if not key.startswith("command") and key != "pages seconds" else "ms"
        rows.append([f"{key}, {unit}", f"{a:.0f}", f"{b:.0f}", f"{ratio:.2f}", target, "" if met is None else yes(met)])
    base = big["search icontains baseline"]["ms"]
    worst = max(figure["ms"] for key, figure in big.items() if key.startswith("search, text"))
    stopped = " (stopped at 120 s)" if big["search icontains baseline"]["stopped"] else ""
    rows.append([
        f"search icontains baseline (text), ms max{stopped}",
        f"{small['search icontains baseline']['ms']:.0f}", f"{base:.0f}", "",
        f">= 20x the search's text p95 ({worst:.0f} ms)", yes(base / worst >= 20),
    ])  # fmt: skip
    ratio = intake_full["rps"] / intake_empty["rps"]
    rows.append([f"intake req/s (wrk -c32): empty delivery table | {DELIVERIES:,} rows",
                 f"{intake_empty['rps']:.0f}", f"{intake_full['rps']:.0f}", f"{ratio:.2f}", ">= 0.9",
                 yes(ratio >= 0.9)])  # fmt: skip
    rows.append(["intake p99 ms: empty | full", f"{intake_empty['p99_ms']:.1f}", f"{intake_full['p99_ms']:.1f}", "",
                 "p99 < 50", yes(intake_full["p99_ms"] < 50)])  # fmt: skip
    rows.append(["intake errors: empty | full", str(intake_empty["errors"]), str(intake_full["errors"]), "", "0",
                 yes(intake_full["errors"] == 0 and intake_empty["errors"] == 0)])  # fmt: skip
    for what, seconds in seeding.items():
        rows.append([f"seeding: {what}, s", "", f"{seconds:.0f}", "", "" if "total" not in what else "< 900 s",
                     "" if "total" not in what else yes(seconds < 900)])  # fmt: skip
    return rows


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> int:
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"]).create_bucket(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME
    )
    with connection.cursor() as cursor:  # the server's, for a bulk load: fewer checkpoints
        cursor.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
        cursor.execute("SELECT pg_reload_conf()")
    with SimulatedAdvance() as advance, override_settings(STORAGES=PLAIN_STATIC):
        sources = sources_make(advance)
        _, key = token_issue(source=sources[0], name="scale")
        with Gunicorn() as web:
            print("intake on an empty delivery table ...", file=sys.stderr, flush=True)
            intake_empty = intake(web, advance, key, "empty")
        superuser = User.objects.filter(username="scale-superuser").first() or User.objects.create_superuser(
            "scale-superuser"
        )
        staff, _ = User.objects.get_or_create(username="scale-staff", defaults={"is_staff": True})
        staff_sources = [sources[1].pk, sources[2].pk]
        for source in sources[1:3]:
            source_access_grant(source=source, user=staff, level="manage")
        clients = {}
        for who, user in (("superuser", superuser), ("staff", staff)):
            clients[who] = Client(SERVER_NAME="localhost", REMOTE_ADDR="127.0.0.1")
            clients[who].force_login(user)

        shape = shape_make([source.pk for source in sources])
        count = len(shape.work_items)
        shape.base = {
            "work_item": keys_reserve("documents_workitem", count),
            "version": keys_reserve("documents_workitemversion", sum(len(v) for v in shape.work_items)),
            "document": keys_reserve("documents_document", shape.documents),
            "delivery": keys_reserve("webhooks_delivery", DELIVERIES),
        }
        seeding: dict[str, float] = {}
        clock = time.monotonic()
        pool = text_pool()
        seeding["text pool (3,000 texts and their vectors)"] = time.monotonic() - clock
        # Phase one: the most recent year of documents, the most recent tenth of the calls.
        clock = time.monotonic()
        seed_documents(shape, pool, range(shape.split, count))
        seeding["first phase: documents"] = time.monotonic() - clock
        clock = time.monotonic()
        seed_deliveries(shape, range(DELIVERIES - SMALL_DELIVERIES, DELIVERIES))
        seeding["first phase: deliveries"] = time.monotonic() - clock
        seeding["first phase: VACUUM ANALYZE"] = vacuum_analyze()
        listed = reconcile_listed(advance, sources[0])
        print(f"first phase seeded ({seeding}); {listed} work items listed", file=sys.stderr, flush=True)
        small = measure(shape, "small", clients, staff_sources)
        # Phase two: the nine years before, the rest of two years of calls.
        clock = time.monotonic()
        seed_documents(shape, pool, range(0, shape.split))
        seeding["second phase: documents"] = time.monotonic() - clock
        clock = time.monotonic()
        seed_deliveries(shape, range(0, DELIVERIES - SMALL_DELIVERIES))
        seeding["second phase: deliveries"] = time.monotonic() - clock
        seeding["second phase: VACUUM ANALYZE"] = vacuum_analyze()
        seeding["total seeding (both phases)"] = sum(seeding.values())
        print(f"second phase seeded ({seeding})", file=sys.stderr, flush=True)
        big = measure(shape, "big", clients, staff_sources)
        with Gunicorn() as web:
            print("intake on the full delivery table ...", file=sys.stderr, flush=True)
            intake_full = intake(web, advance, key, "full")
    rows = table(small, big, intake_empty, intake_full, seeding)
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    for row in rows:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"\n(measured in {time.monotonic() - started:.0f} s on {os.cpu_count()} cores; "
          f"{Document.objects.count():,} documents, {DocumentText.objects.count():,} texts)")  # fmt: skip
    if RESULTS:
        Path(RESULTS).write_text(
            json.dumps(
                {"small": small, "big": big, "intake": [intake_empty, intake_full], "seeding": seeding}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

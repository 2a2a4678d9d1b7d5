"""`BENCH_ONLY=search`: full-text search latency at BENCH_SEARCH_DOCUMENTS documents (default 100,000),
the admin's list query against a plain `icontains` over the same text, extraction throughput (warm
children against the extractors called in-process) and the reindex rate.

The documents belong to SOURCES sources. The admin's list is timed for a superuser (no access
filter), for a staff user granted view on half the sources (the access filter, half the documents)
and for one granted view on every source (the filter applied, the superuser's very results: the
filter's cost alone).

Seeding is fast on purpose: documents by bulk INSERT, their text by COPY, then one UPDATE that
computes every search vector (what the extraction task writes one row at a time).
"""

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.contrib.admin.sites import site
from django.contrib.auth.models import User
from django.db import connection
from django.http import QueryDict
from django.test import RequestFactory

from documents.models import Document, WorkItem, WorkItemVersion
from documents.search import services as search_services
from documents.search.extraction import DOCX_TYPE, text_extract
from documents.storage import object_save_stream
from sources.models import Source
from sources.services import source_access_grant, source_save

DOCUMENTS = int(os.environ.get("BENCH_SEARCH_DOCUMENTS", "100000"))
QUERIES = int(os.environ.get("BENCH_SEARCH_QUERIES", "100"))
EXTRACT_DOCUMENTS = int(os.environ.get("BENCH_SEARCH_EXTRACT_DOCUMENTS", "200"))
# Stored documents reindexed through the extraction service, the figure extrapolated to 100,000.
REINDEX_DOCUMENTS = int(os.environ.get("BENCH_SEARCH_REINDEX_DOCUMENTS", "500"))
PAGE = 100  # the admin's list_per_page
SOURCES = 4  # the bench's source and three more: documents spread over them, work item by work item
BASE_DIR = Path(__file__).resolve().parent.parent

FIRST = [
    "Amelia",
    "Bartholomew",
    "Cornelius",
    "Dorothea",
    "Ephraim",
    "Felicity",
    "Gideon",
    "Harriet",
    "Ignatius",
    "Josephine",
    "Lucian",
    "Marguerite",
    "Nathaniel",
    "Octavia",
    "Percival",
    "Rosalind",
    "Sebastian",
    "Theodora",
    "Ulysses",
    "Wilhelmina",
]  # noqa: E501
LAST = [
    f"{a}{b}"
    for a in [
        "Ash",
        "Black",
        "Bram",
        "Crane",
        "Dun",
        "Fair",
        "Glen",
        "Hol",
        "Kings",
        "Lang",
        "Marsh",
        "North",
        "Oak",
        "Pem",
        "Rad",
        "Stan",
        "Thorn",
        "Wey",
        "Whit",
        "Wolver",
    ]
    for b in [
        "bury",
        "field",
        "ford",
        "ham",
        "hurst",
        "ley",
        "mere",
        "ridge",
        "stead",
        "wick",
        "wood",
        "worth",
        "ton",
        "brook",
        "cliffe",
    ]
]
PLACES = [
    "Aldershot",
    "Bexhill",
    "Carlisle",
    "Doncaster",
    "Exeter",
    "Falmouth",
    "Grimsby",
    "Harrogate",
    "Ipswich",
    "Kendal",
    "Lincoln",
    "Margate",
    "Norwich",
    "Oldham",
    "Penzance",
    "Reading",
    "Salisbury",
    "Truro",
    "Wakefield",
    "York",
]  # noqa: E501
THINGS = ["warehouse", "office", "flat", "cottage", "workshop", "barn", "studio", "shop", "garage", "farmhouse"]
CLAUSES = [
    "The tenant {name} shall pay the annual rent of {amount} to the landlord in equal quarterly instalments.",
    "This agreement is made between {name} and {name2} in respect of the {thing} at {place}.",
    "The employee {name} is entitled to {n} days of paid holiday each year in addition to bank holidays.",
    "Either party may terminate this agreement by giving {n} weeks' notice in writing to the other.",
    "{name} indemnifies {name2} against all losses arising from any breach of the warranties above.",
    "The purchase price of {amount} is payable on completion by bank transfer to the seller's solicitors.",
    "Confidential information disclosed by {name} shall not be shared with any third party.",
    "The guarantor {name} guarantees the obligations of the tenant under this lease of the {thing} in {place}.",
    "Any dispute shall be referred to arbitration in {place} under the rules then in force.",
    "The deposit of {amount} is held by {name2} in a protected scheme for the duration of the tenancy.",
    "Interest accrues on late payments at {n} per cent above the base rate from the due date.",
    "The {thing} at {place} is let together with the right to park one vehicle in the yard.",
]


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def text_make(rng: random.Random) -> str:
    """A contract-like text of 8 to 20 clauses (about 1-2.5 KB): names, places, amounts."""
    return " ".join(
        rng.choice(CLAUSES).format(
            name=_name(rng),
            name2=_name(rng),
            amount=f"£{rng.randint(100, 250000):,}.{rng.randint(0, 99):02d}",
            thing=rng.choice(THINGS),
            place=rng.choice(PLACES),
            n=rng.randint(2, 40),
        )
        for _ in range(rng.randint(8, 20))
    )


def sources_make(source) -> list[Source]:
    """The bench's source and SOURCES - 1 more, at an Advance that is never called."""
    others = [
        source_save(
            slug=f"search-{n}",
            api_base_url=f"https://search-{n}.example/api",
            auth_base_url=f"https://search-{n}.example/auth",
            client_name="bench",
            principal_name="bench",
            principal_password="bench",  # noqa: S106 - an Advance never called
            update=True,
        )[0]
        for n in range(1, SOURCES)
    ]
    return [source, *others]


def seed(sources: list[Source], count: int) -> float:
    """Seed `count` stored documents with extracted, indexed text; return the seconds it took.

    Shaped like real tenancies: work items of one version and three documents each, from fifty
    users, the work items spread evenly over the sources.
    """
    started = time.monotonic()
    rng = random.Random(13)
    per_version = 3
    matters = (count + per_version - 1) // per_version
    work_items = WorkItem.objects.bulk_create(
        (
            WorkItem(source=sources[n % len(sources)], advance_id=f"search-{n}", name=f"Matter {n}")
            for n in range(matters)
        ),
        batch_size=5000,
    )
    versions = WorkItemVersion.objects.bulk_create(
        (
            WorkItemVersion(work_item=work_item, advance_id=f"v{n}", created_by_login=f"user{n % 50}@example.com")
            for n, work_item in enumerate(work_items)
        ),
        batch_size=5000,
    )
    ids = []
    for chunk in range(0, count, 10000):
        documents = Document.objects.bulk_create(
            Document(
                version=versions[n // per_version],
                source=work_items[n // per_version].source,
                advance_id=f"d{n}",
                name=f"Agreement {n}",
                status=Document.Status.STORED,
                filename=f"Agreement {n}.docx",
                content_type=DOCX_TYPE,
                size=20000,
            )
            for n in range(chunk, min(count, chunk + 10000))
        )
        ids += [(document.pk, document.source_id) for document in documents]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY documents_documenttext (document_id, source_id, status, reason, detail, text, truncated, config,"
            " extractor_version, attempts) FROM STDIN"
        ) as copy:
            for pk, source_id in ids:
                copy.write_row(
                    (pk, source_id, "extracted", "", "", text_make(rng), False, settings.SEARCH_CONFIG, 1, 1)
                )
        # Only the rows seeded here: earlier sections' stored documents have texts of their own.
        cursor.execute(
            "UPDATE documents_documenttext SET search_vector = to_tsvector(config::regconfig, text)"
            " WHERE document_id >= %s",
            [ids[0][0]],
        )
        for table in ("documenttext", "document", "workitemversion", "workitem"):
            cursor.execute(f"VACUUM ANALYZE documents_{table}")
    return time.monotonic() - started


def queries_make(count: int) -> list[str]:
    """What staff type: a party's surname, a name, a phrase of a clause, a prefix, a place and a word."""
    rng = random.Random(7)
    kinds = [
        lambda: rng.choice(LAST),
        lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        lambda: (
            f'"{rng.choice(["annual rent", "quarterly instalments", "protected scheme", "base rate"])}"'
            f" {rng.choice(LAST)}"
        ),
        lambda: rng.choice(LAST)[:6] + "*",
        lambda: f"{rng.choice(PLACES)} {rng.choice(LAST)}",
    ]
    return [kinds[n % len(kinds)]() for n in range(count)]


def _list_page(request, term: str, *, how: str) -> int:
    """One search's list query; returns how many documents matched.

    how: "admin" the Documents list as the admin builds it for `?q=term` (its ChangeList: filters,
    the search box over names and text, ranked, the count, the page and its passages); "icontains"
    the same page and count by a plain icontains over the same text, the baseline.
    """
    admin = site._registry[Document]
    if how == "admin":
        request.GET = QueryDict(mutable=True)
        request.GET["q"] = term
        return admin.get_changelist_instance(request).result_count
    rows = admin.get_queryset(request).filter(text_record__text__icontains=term.replace("*", "").replace('"', ""))
    rows = rows.order_by("-pk")
    list(rows[:PAGE])
    return rows.count()


def staff_granted(username: str, sources: list[Source]) -> User:
    """A staff user granted view on these sources (and holding no model permission of Django's)."""
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    for source in sources:
        source_access_grant(source=source, user=user, level="view")
    return user


def latencies(terms: list[str], *, how: str, user: User | None = None) -> tuple[list[float], int]:
    """Each search's milliseconds, as `user` (default: a superuser) in a request of its own."""
    user = user or User.objects.filter(is_superuser=True).first() or User.objects.create_superuser("bench-search")
    timings, matches = [], 0
    for term in terms:
        request = RequestFactory().get("/admin/documents/document/")
        # As Django loads it for each request: the grants are read once per request, and timed.
        request.user = User.objects.get(pk=user.pk)
        started = time.perf_counter()
        matches += _list_page(request, term, how=how)
        timings.append((time.perf_counter() - started) * 1000)
    return timings, matches


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def extraction_files(folder: Path, count: int) -> list[tuple[Path, str]]:
    """`count` real documents, every other one a .docx of 10-30 paragraphs, the others a one-page .pdf."""
    import docx

    from advance_sim import SimDocument, document_bytes

    rng = random.Random(3)
    files = []
    for n in range(count):
        if n % 2:
            document = docx.Document()
            for _ in range(rng.randint(10, 30)):
                document.add_paragraph(text_make(rng)[:400])
            path = folder / f"{n}.docx"
            document.save(path)
            files.append((path, "docx"))
        else:
            path = folder / f"{n}.pdf"
            path.write_bytes(document_bytes(SimDocument(kind="pdf", text=text_make(rng)[:1500])))
            files.append((path, "pdf"))
    return files


def _in_process(path: Path, kind: str) -> bool:
    text_extract(
        path=str(path),
        kind=kind,
        max_chars=search_services.SEARCH_TEXT_MAX_CHARS,
        max_pages=search_services.SEARCH_EXTRACT_MAX_PAGES,
    )
    return True


def _warm_child(path: Path, kind: str) -> bool:
    return search_services.spool_text_extract(path=str(path), kind=kind).returncode == 0


def _one_shot_child(path: Path, kind: str) -> bool:
    # The extraction before issue 23: an interpreter per document (the one-shot form operators keep).
    result = subprocess.run(
        [sys.executable, "-m", "documents.search.extraction", str(path), "--kind", kind,
         "--max-chars", str(search_services.SEARCH_TEXT_MAX_CHARS),
         "--max-pages", str(search_services.SEARCH_EXTRACT_MAX_PAGES),
         "--memory-bytes", str(settings.SEARCH_EXTRACT_MEMORY_BYTES)],
        cwd=BASE_DIR, capture_output=True,
    )  # fmt: skip
    return result.returncode == 0


def _timed(files: list[tuple[Path, str]], extract) -> tuple[float, int]:
    """Seconds to extract every file one after another, and how many gave their text."""
    started = time.monotonic()
    ok = sum(extract(path, kind) for path, kind in files)
    return time.monotonic() - started, ok


def extraction_throughput(count: int) -> dict:
    """Documents/s over the same real .docx and .pdf files: through the warm children (as the task
    runs them), in this process calling the extractors directly (the limit: no isolation at all),
    and through a new interpreter per document (the extraction before issue 23).

    The warm children and the in-process loop are timed twice each, in turn (their sums taken), after
    one document each (the child started, the libraries imported).
    """
    with tempfile.TemporaryDirectory() as folder:
        files = extraction_files(Path(folder), count)
        _in_process(*files[1])
        _warm_child(*files[1])
        seconds = {"warm": 0.0, "in_process": 0.0}
        ok = {"warm": 0, "in_process": 0}
        for _ in range(2):
            for name, extract in (("in_process", _in_process), ("warm", _warm_child)):
                spent, done = _timed(files, extract)
                seconds[name] += spent
                ok[name] += done
        one_shot_files = files[: max(2, count // 4)]
        one_shot_seconds, one_shot_ok = _timed(one_shot_files, _one_shot_child)
    return {
        "extract_rate": 2 * count / seconds["warm"],
        "extracted": ok["warm"] // 2,
        "extract_in_process_rate": 2 * count / seconds["in_process"],
        "extract_one_shot_rate": len(one_shot_files) / one_shot_seconds,
        "extract_one_shot_documents": len(one_shot_files),
        "extract_one_shot_ok": one_shot_ok,
    }


def reindex_throughput(source, count: int) -> tuple[float, int]:
    """Documents/s of the extraction service over `count` stored documents (each read back from
    storage into a spool file, extracted by a warm child, its text and search vector written), one
    after another as a worker's one extraction slot runs them; and how many were extracted."""
    with tempfile.TemporaryDirectory() as folder:
        files = extraction_files(Path(folder), count)
        work_item = WorkItem.objects.create(source=source, advance_id="reindex", name="Reindex")
        version = WorkItemVersion.objects.create(work_item=work_item, advance_id="v1", created_by_login="bench")
        ids = []
        for n, (path, kind) in enumerate(files):
            content_type = DOCX_TYPE if kind == "docx" else "application/pdf"
            key = f"bench/reindex/{n}/{path.name}"
            stored = object_save_stream(key=key, chunks=[path.read_bytes()], content_type=content_type)
            document = Document.objects.create(
                version=version, source=source, advance_id=f"reindex-{n}", name=path.stem,
                status=Document.Status.STORED, filename=path.name, content_type=content_type,
                size=stored.size, sha256=stored.sha256, storage_key=key,
            )  # fmt: skip
            ids.append(document.pk)
    search_services.document_text_extract(document_id=ids[0])  # the child started, as in a running worker
    started = time.monotonic()
    statuses = [search_services.document_text_extract(document_id=pk) for pk in ids]
    seconds = time.monotonic() - started
    return count / seconds, statuses.count("extracted")


def run(source) -> dict:
    sources = sources_make(source)
    seconds = seed(sources, DOCUMENTS)
    half = staff_granted("bench-search-half", sources[: len(sources) // 2])
    every = staff_granted("bench-search-every", sources)
    terms = queries_make(QUERIES)
    latencies(terms[:5], how="admin")  # warm the caches every way alike
    latencies(terms[:5], how="icontains")
    latencies(terms[:5], how="admin", user=half)
    ours, matched = latencies(terms, how="admin")
    baseline, baseline_matched = latencies(terms, how="icontains")
    halved, halved_matched = latencies(terms, how="admin", user=half)
    filtered, filtered_matched = latencies(terms, how="admin", user=every)
    extraction = extraction_throughput(EXTRACT_DOCUMENTS)
    reindex_rate, reindexed = reindex_throughput(source, REINDEX_DOCUMENTS)
    return {
        "documents": DOCUMENTS,
        "seed_seconds": seconds,
        "p50": p(ours, 50),
        "p95": p(ours, 95),
        "baseline_p50": p(baseline, 50),
        "baseline_p95": p(baseline, 95),
        "matched": matched,  # both sides must find documents: a search that finds none is quick
        "baseline_matched": baseline_matched,
        "sources": len(sources),
        "half_p50": p(halved, 50),
        "half_p95": p(halved, 95),
        "half_matched": halved_matched,
        "every_p95": p(filtered, 95),
        "every_matched": filtered_matched,
        **extraction,
        "extract_documents": EXTRACT_DOCUMENTS,
        "reindex_rate": reindex_rate,
        "reindexed": reindexed,
        "reindex_documents": REINDEX_DOCUMENTS,
    }

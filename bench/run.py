"""`make bench`: intake, interview answers, streaming and burst figures, each against a baseline
measured in the same run on the same services. Run by scripts/bench.sh, which starts PostgreSQL,
Redis and moto_server and sets DJANGO_SETTINGS_MODULE=config.settings.bench."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import django  # noqa: E402

django.setup()

import boto3  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from advance_sim import SimDocument, SimulatedAdvance  # noqa: E402
from bench import burst, freshness, soak  # noqa: E402
from bench.urls import BASELINE_TABLE  # noqa: E402
from core.queues import queue_names  # noqa: E402
from documents.models import Document, WorkItem, WorkItemVersion  # noqa: E402
from interviews.services import answer_stored_set  # noqa: E402
from sources.services import source_save  # noqa: E402
from webhooks.models import Delivery  # noqa: E402
from webhooks.services import token_issue  # noqa: E402

WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
STREAM_ROUNDS = int(os.environ.get("BENCH_STREAM_ROUNDS", "2"))
STREAM_BYTES = int(os.environ.get("BENCH_STREAM_BYTES", str(1024**3)))
MiB = 1024 * 1024
SECTIONS = os.environ.get(
    "BENCH_ONLY", "intake,interview,streaming,burst,freshness,memory,soak,search,audit,compare"
).split(",")


@dataclass
class Row:
    figure: str
    ours: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def app_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


class Gunicorn:
    """The web tier started as the README tells users (its config file: workers, threads, the
    access log); its log goes to a file in VAR_DIR."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Gunicorn":
        log_dir = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(log_dir / "bench-gunicorn.log", "ab")  # noqa: SIM115 - open for the process's life
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config", "python:config.gunicorn"]
            + ["config.wsgi:application", "--bind", f"127.0.0.1:{self.port}"],
            cwd=BASE_DIR,
            env=app_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_http(f"{self.url}/healthz")
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def wrk(url: str, script: str, *, connections: int, seconds: int, **env: str) -> dict:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(BASE_DIR / "bench" / "wrk" / script),
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    match = re.search(r"WRK_JSON (\{.*\})", output)
    if not match:
        raise SystemExit(f"wrk printed no result:\n{output}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def purge_queues() -> None:
    from config.celery_app import app

    with app.connection_for_write() as conn:
        for queue in queue_names():
            conn.default_channel.client.delete(queue)


# Intake ------------------------------------------------------------------------------------


def bench_intake(web: Gunicorn, advance: SimulatedAdvance, key: str) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (id bigserial PRIMARY KEY, body bytea NOT NULL)")
    env = {"BENCH_TOKEN": key, "BENCH_API": advance.api_base_url}
    urls = {"b": f"{web.url}/bench/baseline/", "o": f"{web.url}/webhooks/advance/"}
    # Warm both up (connections, imports, prepared statements), then measure each twice, in turn:
    # the figures are the means of both rounds (the worse p99), so that one round the machine
    # spent elsewhere does not decide the ratio.
    for side, url in urls.items():
        wrk(url, "post_events.lua", connections=32, seconds=5, BENCH_RUN=f"warm-{side}", **env)
    rounds: dict[str, list[dict]] = {"b": [], "o": []}
    for round_number in range(2):
        for side, url in urls.items():
            run = f"{side}{round_number}"  # our events are bench-o0-… and bench-o1-…
            rounds[side].append(wrk(url, "post_events.lua", connections=32, seconds=WRK_SECONDS, BENCH_RUN=run, **env))
    baseline, ours = (
        {
            "requests": sum(result["requests"] for result in results),
            "rps": sum(result["rps"] for result in results) / len(results),
            "errors": sum(result["errors"] for result in results),
            "p50_ms": max(result["p50_ms"] for result in results),
            "p99_ms": max(result["p99_ms"] for result in results),
        }
        for results in (rounds["b"], rounds["o"])
    )
    accepted = Delivery.objects.filter(event_id__regex=r"^bench-o[01]-", status=Delivery.Status.ACCEPTED).count()
    ratio = ours["rps"] / baseline["rps"]
    # wrk stops counting at the deadline while the last requests may still complete and be stored.
    errors = ours["errors"] + max(0, ours["requests"] - accepted)
    # No worker ran: these events were stored, never published. Drop them, or the relay of the
    # next section's worker would publish thousands of them into its figures.
    Delivery.objects.filter(event_id__startswith="bench-", status=Delivery.Status.ACCEPTED).delete()
    purge_queues()
    return [
        Row(
            "intake req/s (wrk -c32, POST unique events)",
            f"{ours['rps']:.0f}",
            f"{baseline['rps']:.0f}",
            f"{ratio:.2f}",
            ">= 0.8",
            yes(ratio >= 0.8),
        ),
        Row(
            "intake p50 / p99 ms",
            f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f}",
            f"{baseline['p50_ms']:.1f} / {baseline['p99_ms']:.1f}",
            "",
            "p99 < 50",
            yes(ours["p99_ms"] < 50),
        ),
        Row(
            "intake errors (wrk errors + answers not stored)",
            str(errors),
            str(baseline["errors"]),
            "",
            "0",
            yes(errors == 0),
        ),
    ]


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


# Interview answers ---------------------------------------------------------------------------


def bench_interview(web: Gunicorn, source, key: str) -> list[Row]:
    answer_stored_set(
        source=source,
        event_type="CustomInterviewEvent",
        event_name="GetClient",
        answer_json=json.dumps({"Client Name": {"text": "Ada Lovelace"}, "Matter": {"num": 7}}),
    )
    url = f"{web.url}/webhooks/advance/?eventType=CustomInterviewEvent&eventName=GetClient"
    wrk(url, "get.lua", connections=8, seconds=2, BENCH_TOKEN=key)
    ours = wrk(url, "get.lua", connections=8, seconds=WRK_SECONDS, BENCH_TOKEN=key)
    health = wrk(f"{web.url}/healthz", "get.lua", connections=8, seconds=WRK_SECONDS)
    return [
        Row(
            "interview answer (stored) p50 / p99 ms, wrk -c8",
            f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f}",
            f"{health['p50_ms']:.1f} / {health['p99_ms']:.1f} (/healthz)",
            f"{ours['rps']:.0f} req/s",
            "",
            "",
        ),
    ]


# Streaming -------------------------------------------------------------------------------------


def run_json(*args: str) -> dict:
    output = subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=app_env(), capture_output=True, text=True)
    if output.returncode != 0:
        raise SystemExit(f"{args} failed:\n{output.stdout}\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def document_row(source, work_item, document, url) -> Document:
    """The rows an event would have made, for a document synced outside the queue."""
    item, _ = WorkItem.objects.get_or_create(source=source, advance_id=work_item.id, defaults={"name": work_item.name})
    version, _ = WorkItemVersion.objects.get_or_create(work_item=item, advance_id=work_item.version_id)
    return Document.objects.create(version=version, source=source, advance_id=document.id, name=document.name, url=url)


def bench_streaming(advance: SimulatedAdvance, source) -> list[Row]:
    document = SimDocument(name="Scan", kind="pdf", size=STREAM_BYTES)
    work_item = advance.add_work_item(name="Streaming bench", documents=[document])
    url = advance.document_url(work_item.id, document.id)
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"])

    def emptied() -> None:
        # An S3 server holding the previous run's GiB would slow the next one down.
        for item in s3.list_objects_v2(Bucket=settings.AWS_STORAGE_BUCKET_NAME).get("Contents", []):
            s3.delete_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=item["Key"])

    runs: dict[str, list[dict]] = {"baseline": [], "ours": []}
    for _ in range(STREAM_ROUNDS):  # alternate, and keep each side's best run: the S3 server is noisy
        emptied()
        runs["baseline"].append(run_json("-m", "bench.stream", "baseline", url, source.slug))
        emptied()
        Document.objects.filter(advance_id=document.id).delete()
        runs["ours"].append(
            run_json("-m", "bench.stream", "ours", str(document_row(source, work_item, document, url).pk))
        )
    baseline = max(runs["baseline"], key=lambda run: run["mib_s"])
    ours = max(runs["ours"], key=lambda run: run["mib_s"])
    ours["growth_mib"] = max(run["growth_mib"] for run in runs["ours"])
    baseline["growth_mib"] = max(run["growth_mib"] for run in runs["baseline"])
    ratio = ours["mib_s"] / baseline["mib_s"]
    size = f"{STREAM_BYTES / MiB:.0f} MiB"
    return [
        Row(
            f"streaming {size} Advance -> S3, MiB/s",
            f"{ours['mib_s']:.0f}",
            f"{baseline['mib_s']:.0f}",
            f"{ratio:.2f}",
            ">= 0.8",
            yes(ratio >= 0.8),
        ),
        Row(
            "streaming peak memory growth, MiB",
            f"{ours['growth_mib']:.0f}",
            f"{baseline['growth_mib']:.0f}",
            "",
            "< 64",
            yes(ours["growth_mib"] < 64),
        ),
    ]


# Burst -------------------------------------------------------------------------------------


def bench_burst(web: Gunicorn, advance: SimulatedAdvance, source, key: str) -> list[Row]:
    """bench/burst.py: the app with one plain worker against a 16-thread client, Advance answering late."""
    rows = []
    size = f"{burst.DOCUMENT_BYTES // 1024} KiB"
    for delay in burst.DELAYS:
        ours = burst.app_burst(web_url=web.url, advance=advance, key=key, delay=delay)
        baseline = burst.baseline_burst(advance=advance, source=source, items=ours["items"], delay=delay)
        ratio = ours["docs_s"] / baseline["docs_s"]
        complete = ours["stored"] == ours["expected"] and not ours["rejected"]
        rows += [
            Row(
                f"burst {burst.EVENTS} events x 3 docs of {size}, Advance answering after {delay} s, docs/s",
                f"{ours['docs_s']:.1f} ({ours['stored']}/{ours['expected']} stored)",
                f"{baseline['docs_s']:.1f} ({burst.BASELINE_THREADS} threads)",
                f"{ratio:.2f}",
                ">= 0.8 (< 0.5 regression)",
                yes(ratio >= 0.8 and complete),
            ),
            Row(
                f"worker RSS during it (1 worker, {settings.CELERY_WORKER_CONCURRENCY} threads), MiB",
                f"{ours['rss_mib']:.0f}",
            ),
        ]
    return rows


def bench_freshness(web: Gunicorn, advance: SimulatedAdvance, key: str) -> list[Row]:
    """bench/freshness.py: stored to searchable through a burst, and the burst against itself without search."""
    figures = freshness.freshness(web_url=web.url, advance=advance, key=key)
    ratio = figures["docs_s"] / figures["baseline_docs_s"]
    complete = figures["stored"] == figures["baseline_stored"] == figures["expected"] and not figures["rejected"]
    burst_name = f"{burst.EVENTS} events x 3 docs, Advance answering after {freshness.DELAY} s"
    return [
        Row(
            f"freshness: stored to searchable through a burst of {burst_name}, s p95 (p50, longest)",
            f"{figures['p95']:.1f} ({figures['p50']:.1f}, {figures['longest']:.1f}; "
            f"{figures['searchable']}/{figures['expected']} searchable)",
            "",
            "",
            "< 60, every text extracted",
            yes(figures["p95"] < 60 and figures["searchable"] == figures["expected"]),
        ),
        Row(
            "freshness: that burst's docs/s (baseline: the same burst, no worker on the search queue)",
            f"{figures['docs_s']:.1f}",
            f"{figures['baseline_docs_s']:.1f}",
            f"{ratio:.2f}",
            ">= 0.9",
            yes(ratio >= 0.9 and complete),
        ),
    ]


def bench_soak(web: Gunicorn, advance: SimulatedAdvance, key: str) -> list[Row]:
    """bench/soak.py: a burst through two worker kills and an emptied broker."""
    figures = soak.soak(web_url=web.url, advance=advance, key=key)
    complete = figures["stored"] == figures["expected"] and not figures["rejected"] and not figures["stored_twice"]
    doubled = figures["extra_downloads"] - figures["abandoned"]
    return [
        Row(
            f"soak: {soak.EVENTS} events x 3 docs, Advance answering after {soak.DELAY} s, worker killed twice and "
            "the broker emptied; last document stored after the last fault's end, s",
            f"{figures['back_after_s']:.0f} ({figures['stored']}/{figures['expected']} stored, "
            f"{figures['stored_twice']} stored twice)",
            "",
            "",
            "<= 60, all stored once",
            yes(figures["back_after_s"] <= 60 and complete),
        ),
        Row(
            "soak: downloads beyond one per document, less those a killed worker had begun",
            f"{doubled} ({figures['extra_downloads']} extra, {figures['abandoned']} begun by a killed worker)",
            "",
            "",
            "0",
            yes(doubled == 0),
        ),
    ]


def bench_memory(web: Gunicorn, advance: SimulatedAdvance, key: str) -> list[Row]:
    memory = burst.worker_memory(web_url=web.url, advance=advance, key=key)
    complete = memory["stored"] == burst.MEMORY_DOCS and not memory["rejected"]
    return [
        Row(
            f"worker growth, {burst.MEMORY_DOCS} concurrent downloads of {burst.MEMORY_BYTES / MiB:.0f} MiB, MiB",
            f"{memory['growth_mib']:.0f} ({memory['stored']}/{burst.MEMORY_DOCS} stored)",
            "",
            "",
            "< 128",
            yes(memory["growth_mib"] < 128 and complete),
        )
    ]


def bench_search(source) -> list[Row]:
    from bench import search  # imported here: it seeds nothing until run

    figures = search.run(source)
    ratio = figures["baseline_p95"] / figures["p95"]
    extraction_ratio = figures["extract_rate"] / figures["extract_in_process_rate"]
    size = f"{figures['documents']:,} documents"
    return [
        Row(
            f"admin search p50, {size}, ms (baseline: icontains over the text)",
            f"{figures['p50']:.1f}",
            f"{figures['baseline_p50']:.1f}",
        ),
        Row(
            f"admin search p95 (names + text, ranked: count, page, passages), {size}, ms",
            f"{figures['p95']:.1f}",
            f"{figures['baseline_p95']:.1f}",
            f"{ratio:.1f}x faster",
            "< 100 ms and >= 20x",
            yes(figures["p95"] < 100 and ratio >= 20),
        ),
        Row(
            f"admin search p95, staff granted view on {figures['sources'] // 2} of {figures['sources']} sources "
            f"({figures['half_matched']:,} found), ms (baseline: a superuser)",
            f"{figures['half_p95']:.1f}",
            f"{figures['p95']:.1f}",
            "",
            "< 100 ms",
            yes(figures["half_p95"] < 100),
        ),
        Row(
            "admin search p95, staff granted view on every source (the access filter's cost: "
            f"{figures['every_matched']:,} found as the superuser's {figures['matched']:,}), ms",
            f"{figures['every_p95']:.1f}",
            f"{figures['p95']:.1f}",
            f"{figures['every_p95'] / figures['p95']:.2f}x",
            "within 15 %",
            yes(figures["every_p95"] <= 1.15 * figures["p95"] and figures["every_matched"] == figures["matched"]),
        ),
        Row(
            "documents found over the queries (ours: names and stemmed text; baseline: the text as typed)",
            f"{figures['matched']:,}",
            f"{figures['baseline_matched']:,}",
        ),
        Row("search seeding (bulk insert + COPY + one UPDATE of vectors), s", f"{figures['seed_seconds']:.0f}"),
        Row(
            f"text extraction, {figures['extract_documents']} real .docx/.pdf, docs/s: warm child processes (every "
            "limit enforced) (baseline: the extractors called in-process, no isolation)",
            f"{figures['extract_rate']:.1f} ({figures['extracted']}/{figures['extract_documents']} extracted)",
            f"{figures['extract_in_process_rate']:.1f}",
            f"{extraction_ratio:.2f}",
            ">= 0.7",
            yes(extraction_ratio >= 0.7 and figures["extracted"] == figures["extract_documents"]),
        ),
        Row(
            "text extraction, a new interpreter per document (before issue 23), docs/s",
            f"{figures['extract_one_shot_rate']:.1f} "
            f"({figures['extract_one_shot_ok']}/{figures['extract_one_shot_documents']} extracted)",
        ),
        Row(
            f"reindex of 100,000 documents, one worker process (SEARCH_EXTRACT_CONCURRENCY=1), min: extrapolated "
            f"from {figures['reindex_documents']} stored documents through the extraction service (storage read, "
            f"warm child, text and vector written; no Celery), {figures['reindex_rate']:.1f} docs/s",
            f"{100_000 / figures['reindex_rate'] / 60:.0f} ({figures['reindexed']}/{figures['reindex_documents']} "
            "extracted)",
        ),
    ]


def bench_audit(source) -> list[Row]:
    from bench import audit  # imported here: it seeds nothing until run

    figures = audit.run(source)
    rows = []
    for name, (ours, baseline) in figures["pages"].items():
        ratio = ours / baseline
        recorded = "not recorded" not in name
        rows.append(
            Row(
                f"admin {name}, with the access audit, ms p50 (baseline: the same without recording)",
                f"{ours:.1f}",
                f"{baseline:.1f}",
                f"{ratio:.2f}x",
                "<= 1.15x" if recorded else "",
                yes(ratio <= 1.15) if recorded else "",
            )
        )
    rows.append(
        Row(
            f"access records written for {figures['requests']} requests of each recorded kind",
            f"{figures['recorded']}",
            target=f"{figures['expected_recorded']} (one each)",
            met=yes(figures["recorded"] == figures["expected_recorded"]),
        )
    )
    return rows


def bench_compare(source) -> list[Row]:
    from bench import compare  # imported here: it seeds nothing until run

    figures = compare.run(source)
    budget_ms = figures["seconds"] * 1000
    edits = figures["pages"]["50 edits"]
    rows = [
        Row(
            f"compare versions page p95, {figures['words']:,} words with 50 scattered edits, ms "
            "(baseline: the work item's page)",
            f"{edits['p95']:.0f}",
            f"{edits['baseline_p95']:.0f}",
            f"{edits['p95'] / edits['baseline_p95']:.1f}x",
            "< 1000 ms, the 50 edits found",
            yes(edits["p95"] < 1000 and edits["outcome"].startswith("50 paragraphs changed, 50 words added")),
        ),
    ]
    for name in ("everything changed", "another text"):
        page = figures["pages"][name]
        rows.append(
            Row(
                f"compare versions page, {name} ({page['kind']}: {page['outcome']}), ms max (p50 {page['p50']:.0f})",
                f"{page['max']:.0f}",
                f"{page['baseline_p95']:.0f}",
                f"{page['max'] / page['baseline_p95']:.1f}x",
                f"within the budget ({budget_ms:.0f} ms)",
                yes(page["max"] < budget_ms),
            )
        )
    for name, page in figures["crafted"].items():
        rows.append(
            Row(
                f"compare versions, crafted pair ends within the budget: {name} ({page['kind']}: {page['outcome']}), "
                f"ms max of {compare.CRAFTED_ROUNDS} (p50 {page['p50']:.0f})",
                f"{page['max']:.0f}",
                "",
                "",
                f"within the budget ({budget_ms:.0f} ms)",
                yes(page["max"] < budget_ms),
            )
        )
    return rows


def main() -> int:
    call_command("migrate", verbosity=0)
    boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"]).create_bucket(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME
    )
    rows: list[Row] = []
    started = time.monotonic()
    with SimulatedAdvance() as advance:
        source, _ = source_save(
            slug="bench",
            api_base_url=advance.api_base_url,
            auth_base_url=advance.auth_base_url,
            client_name=advance.client_name,
            principal_name=advance.principal_name,
            principal_password=advance.principal_password,
        )
        _, key = token_issue(source=source, name="bench")
        with Gunicorn() as web:
            if "intake" in SECTIONS:
                rows += bench_intake(web, advance, key)
            if "interview" in SECTIONS:
                rows += bench_interview(web, source, key)
            if "streaming" in SECTIONS:
                rows += bench_streaming(advance, source)
            if "burst" in SECTIONS:
                rows += bench_burst(web, advance, source, key)
            if "freshness" in SECTIONS:
                rows += bench_freshness(web, advance, key)
            if "memory" in SECTIONS:
                rows += bench_memory(web, advance, key)
            if "soak" in SECTIONS:
                rows += bench_soak(web, advance, key)
            if "search" in SECTIONS:
                rows += bench_search(source)
            if "audit" in SECTIONS:
                rows += bench_audit(source)
            if "compare" in SECTIONS:
                rows += bench_compare(source)
    header = Row("figure", "ours", "baseline", "ratio", "target", "met")
    widths = [max(len(getattr(row, field)) for row in [header, *rows]) for field in Row.__dataclass_fields__]
    for row in [header, *rows]:
        cells = [getattr(row, field) for field in Row.__dataclass_fields__]
        print(" | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)))
    print(f"\n(measured in {time.monotonic() - started:.0f} s on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

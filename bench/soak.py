"""The soak: a burst through three faults, and how soon the work they lost is back.

Against the app as users start it (gunicorn, a plain `celery -A config worker` and `celery -A
config beat`): EVENTS events of 3 documents, the simulated Advance answering each request after
DELAY seconds. While the documents sync, the worker is killed (SIGKILL) and started again, the
broker is emptied (FLUSHALL: a Redis restarted without its data), and the worker is killed and
started again. A fault ends when the new worker answers a ping, or at once for the broker.

Figures: every document stored, each stored once (one stored attempt, one object); downloads
beyond one per document, less those a killed worker had begun (its attempt, taken over, is
marked abandoned), which must be none; and the seconds from the last fault's end to the last
document stored.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.burst import BASE_DIR, PlainWorker, events_post

EVENTS = int(os.environ.get("BENCH_SOAK_EVENTS", "100"))
DELAY = float(os.environ.get("BENCH_SOAK_DELAY", "1.0"))
TIMEOUT = float(os.environ.get("BENCH_SOAK_TIMEOUT", "600"))
# The share of documents stored before each fault.
FAULTS_AT = (0.2, 0.45, 0.7)


class Beat:
    """`celery -A config beat` as the README tells operators (only a log level added)."""

    def __enter__(self) -> "Beat":
        log_dir = os.environ.get("VAR_DIR", tempfile.gettempdir())
        self.log = open(f"{log_dir}/bench-beat.log", "w")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING"],
            cwd=BASE_DIR,
            env=dict(os.environ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def _stored(version_ids: list[str]) -> int:
    from documents.models import Document

    return Document.objects.filter(version__advance_id__in=version_ids, status="stored").count()


def _wait_stored(version_ids: list[str], count: int, deadline: float) -> None:
    said = time.monotonic()
    while (stored := _stored(version_ids)) < count and time.monotonic() < deadline:
        if time.monotonic() - said > 10:
            _say(f"{stored} stored, waiting for {count}")
            said = time.monotonic()
        time.sleep(0.1)


def _say(text: str) -> None:
    print(f"soak {time.strftime('%H:%M:%S')}: {text}", file=sys.stderr, flush=True)


def _worker_killed(worker: PlainWorker) -> None:
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=30)
    worker.log.close()
    _say(f"worker {worker.hostname} killed")


def _worker_stopped(worker: PlainWorker) -> None:
    """A warm shutdown, as an operator's; killed if it has not ended within a minute."""
    worker.process.terminate()
    try:
        worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        _say(f"worker {worker.hostname} still running a minute after SIGTERM; killed. The end of its log:")
        print(Path(worker.log.name).read_text()[-4000:], file=sys.stderr)
        _worker_killed(worker)
    worker.log.close()


def soak(*, web_url: str, advance, key: str) -> dict:
    import redis
    from django.db.models import Count, Max, Q

    from advance_sim import SimDocument
    from documents.models import Document, DocumentAttempt

    items = [
        advance.add_work_item(
            name=f"soak {n}", documents=[SimDocument(name=f"Doc {i}", kind="pdf", size=16 * 1024) for i in range(3)]
        )
        for n in range(EVENTS)
    ]
    version_ids = [item.version_id for item in items]
    expected = 3 * EVENTS
    payloads = [json.dumps(advance.event_payload(item)).encode() for item in items]
    deadline = time.monotonic() + TIMEOUT
    faults_ended = []
    advance.delay_seconds = DELAY
    try:
        with Beat():
            worker = PlainWorker("soak-1").__enter__()
            codes = events_post(web_url, key, payloads)
            _wait_stored(version_ids, int(FAULTS_AT[0] * expected), deadline)
            _worker_killed(worker)
            worker = PlainWorker("soak-2").__enter__()
            faults_ended.append(time.time())
            _wait_stored(version_ids, int(FAULTS_AT[1] * expected), deadline)
            redis.Redis.from_url(os.environ["REDIS_URL"]).flushall()
            faults_ended.append(time.time())
            _say("broker emptied")
            _wait_stored(version_ids, int(FAULTS_AT[2] * expected), deadline)
            _worker_killed(worker)
            worker = PlainWorker("soak-3").__enter__()
            faults_ended.append(time.time())
            _say("worker started again: the last fault ended")
            try:
                _wait_stored(version_ids, expected, deadline)
                _say("all stored")
            finally:
                _worker_stopped(worker)
    finally:
        advance.delay_seconds = 0.0

    documents = Document.objects.filter(version__advance_id__in=version_ids)
    last_stored = documents.aggregate(last=Max("synced_at"))["last"]
    attempts = DocumentAttempt.objects.filter(document__in=documents)
    stored_twice = (
        attempts.values("document").annotate(n=Count("pk", filter=Q(outcome="stored"))).filter(n__gt=1).count()
    )
    abandoned = attempts.filter(error__startswith="abandoned").count()
    paths = {
        urlsplit(advance.document_url(item.id, document.id)).path.lower()
        for item in items
        for document in item.documents
    }
    downloads = sum(1 for record in advance.requests if record.method == "GET" and record.path.lower() in paths)
    return {
        "stored": documents.filter(status="stored").count(),
        "expected": expected,
        "rejected": sum(code != 202 for code in codes),
        "stored_twice": stored_twice,
        "extra_downloads": downloads - expected,
        "abandoned": abandoned,
        "back_after_s": (last_stored.timestamp() - faults_ended[-1]) if last_stored else float("nan"),
        "faults": len(faults_ended),
    }

"""The burst from a distant Advance, and the worker's memory under many large downloads.

Against the real app started as users start it (gunicorn, a plain `celery -A config worker`):
the simulated Advance answers every request after a set delay; EVENTS events of 3 documents
are posted to the webhook, and the figure is documents stored per second from the first post to
the last document stored. The baseline, in the same run, is a plain ThreadPoolExecutor of 16
threads doing the same log-in, GET and S3 put for the same documents, in a process of its own
(`python -m bench.burst baseline SPEC`, so that it shares no interpreter lock with the simulator).

The memory figure: MEMORY_DOCS documents of MEMORY_BYTES each, all in flight at once in one
worker; its resident memory grows by the peak during them minus its size just before.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024

EVENTS = int(os.environ.get("BENCH_BURST_EVENTS", "100"))
DOCUMENT_BYTES = int(os.environ.get("BENCH_BURST_DOCUMENT_BYTES", str(32 * 1024)))
DELAYS = [float(d) for d in os.environ.get("BENCH_BURST_DELAYS", "0.1,0.5").split(",")]
BASELINE_THREADS = 16
MEMORY_DOCS = int(os.environ.get("BENCH_MEMORY_DOCS", "16"))
MEMORY_BYTES = int(os.environ.get("BENCH_MEMORY_BYTES", str(100 * MiB)))
SETTLE_TIMEOUT = float(os.environ.get("BENCH_BURST_TIMEOUT", "600"))


class PlainWorker:
    """`celery -A config worker` exactly as the README tells users (only a node name and log level
    added); with `queues`, `-Q queues`, the README's split of the queues across workers."""

    def __init__(self, name: str, queues: str | None = None):
        self.name = name
        self.queues = queues

    def __enter__(self) -> "PlainWorker":
        from config.celery_app import app

        log_dir = os.environ.get("VAR_DIR", tempfile.gettempdir())
        self.log = open(f"{log_dir}/bench-worker-{self.name}.log", "w")  # noqa: SIM115 - closed in __exit__
        self.hostname = f"bench-{self.name}@{os.uname().nodename}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "WARNING",
                "--hostname",
                self.hostname,
                *(["-Q", self.queues] if self.queues else []),
            ],
            cwd=BASE_DIR,
            env=dict(os.environ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[self.hostname], timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start; see {self.log.name}")
        return self

    def rss_mib(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / MiB

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


class PeakRss:
    """Samples a process's resident memory every 50 ms while the block runs."""

    def __init__(self, worker: PlainWorker):
        self.worker = worker
        self.peak = 0.0

    def __enter__(self) -> "PeakRss":
        self.before = self.worker.rss_mib()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.worker.rss_mib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def documents_settled(version_ids: list[str], expected: int) -> int:
    from documents.models import Document

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        documents = Document.objects.filter(version__advance_id__in=version_ids)
        done = documents.exclude(status__in=["pending", "syncing"]).count()
        if done >= expected or time.monotonic() > deadline:
            return documents.filter(status="stored").count()
        time.sleep(0.2)


def events_post(web_url: str, key: str, payloads: list[bytes]) -> list[int]:
    import requests

    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))  # one connection per thread
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with ThreadPoolExecutor(16) as pool:
        return list(
            pool.map(
                lambda body: (
                    session.post(f"{web_url}/webhooks/advance/", data=body, headers=headers, timeout=30).status_code
                ),
                payloads,
            )
        )


def app_burst(*, web_url: str, advance, key: str, delay: float, queues: str | None = None) -> dict:
    """Post EVENTS events to the running app with one plain worker (of these queues); documents stored per second."""
    from advance_sim import SimDocument

    items = [
        advance.add_work_item(
            name=f"burst {delay}-{n}",
            documents=[SimDocument(name=f"Doc {i}", kind="pdf", size=DOCUMENT_BYTES) for i in range(3)],
        )
        for n in range(EVENTS)
    ]
    payloads = [json.dumps(advance.event_payload(item)).encode() for item in items]
    with PlainWorker(f"burst-{delay}-{queues or 'all'}", queues) as worker, PeakRss(worker) as rss:
        advance.delay_seconds = delay
        try:
            started = time.monotonic()
            codes = events_post(web_url, key, payloads)
            stored = documents_settled([item.version_id for item in items], 3 * EVENTS)
            seconds = time.monotonic() - started
        finally:
            advance.delay_seconds = 0.0
    return {
        "docs_s": stored / seconds,
        "stored": stored,
        "expected": 3 * EVENTS,
        "rejected": sum(code != 202 for code in codes),
        "rss_mib": rss.peak,
        "items": items,
    }


def baseline_burst(*, advance, source, items, delay: float) -> dict:
    """The same documents through a plain thread pool, in a process of its own."""
    spec = {
        "auth_url": f"{source.auth_base_url.rstrip('/')}/Authorize/ServicePrincipalLogIn",
        "credentials": {
            "ClientName": source.client_name,
            "PrincipalName": source.principal_name,
            "PrincipalPassword": source.principal_password,
        },
        "urls": [advance.document_url(item.id, document.id) for item in items for document in item.documents],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(spec, file)
        file.flush()
        advance.delay_seconds = delay
        try:
            output = subprocess.run(
                [sys.executable, "-m", "bench.burst", "baseline", file.name],
                cwd=BASE_DIR,
                env=dict(os.environ),
                capture_output=True,
                text=True,
            )
        finally:
            advance.delay_seconds = 0.0
    if output.returncode != 0:
        raise SystemExit(f"the burst baseline failed:\n{output.stdout}\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def _baseline_run(spec_path: str) -> None:
    """In a fresh process: log in per thread, GET each document, put it in S3; print docs/s as JSON."""
    import boto3
    import requests

    spec = json.loads(Path(spec_path).read_text())
    bucket = os.environ["AWS_STORAGE_BUCKET_NAME"]
    endpoint = os.environ["AWS_S3_ENDPOINT_URL"]
    local = threading.local()
    s3 = boto3.client("s3", endpoint_url=endpoint)  # boto3 clients are thread-safe

    def copy(index_url: tuple[int, str]) -> None:
        index, url = index_url
        if not hasattr(local, "session"):
            local.session = requests.Session()
            answer = local.session.post(spec["auth_url"], json=spec["credentials"], timeout=30)
            answer.raise_for_status()
            local.token = answer.text.strip()
        response = local.session.get(url, headers={"Authorization": f"Bearer {local.token}"}, timeout=60)
        response.raise_for_status()
        s3.put_object(
            Bucket=bucket,
            Key=f"bench-baseline/{index}",
            Body=response.content,
            ContentType=response.headers.get("Content-Type", ""),
        )

    started = time.monotonic()
    with ThreadPoolExecutor(BASELINE_THREADS) as pool:
        list(pool.map(copy, enumerate(spec["urls"])))
    seconds = time.monotonic() - started
    print(json.dumps({"docs_s": len(spec["urls"]) / seconds, "stored": len(spec["urls"]), "seconds": seconds}))


def worker_memory(*, web_url: str, advance, key: str) -> dict:
    """MEMORY_DOCS documents of MEMORY_BYTES in one event, all downloading at once in one plain worker."""
    from advance_sim import SimDocument

    warm_up = advance.add_work_item(name="memory warm-up", documents=[SimDocument(name="Small", kind="pdf")])
    item = advance.add_work_item(
        name="memory",
        documents=[SimDocument(name=f"Large {i}", kind="pdf", size=MEMORY_BYTES) for i in range(MEMORY_DOCS)],
    )
    with PlainWorker("memory") as worker:
        # One small document first: what any first sync loads once per process (the S3 and HTTP
        # clients, lazily imported modules) is not growth under load.
        events_post(web_url, key, [json.dumps(advance.event_payload(warm_up)).encode()])
        documents_settled([warm_up.version_id], 1)
        time.sleep(1)
        with PeakRss(worker) as rss:
            codes = events_post(web_url, key, [json.dumps(advance.event_payload(item)).encode()])
            stored = documents_settled([item.version_id], MEMORY_DOCS)
    return {"growth_mib": rss.peak - rss.before, "stored": stored, "rejected": sum(c != 202 for c in codes)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["baseline"]:
        _baseline_run(sys.argv[2])

"""/metrics: who may read it, and that its values move when events arrive and documents sync,
across processes (a real Celery worker, several gunicorn workers)."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.db import connection

from advance_sim import SimDocument, document_bytes
from documents.models import Document
from documents.selectors import dashboard_figures
from tests.factories import document_make, event_json
from tests.support.metrics import metric, metric_samples
from tests.support.processes import BASE_DIR, free_port
from tests.support.required import service_missing
from tests.support.waiting import wait_for
from webhooks.metrics import rejection_cause_label
from webhooks.services import token_issue


@pytest.fixture
def multiprocess_directory() -> str:
    """The metrics directory this process shares with the worker (set by `make test`)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or service_missing("PROMETHEUS_MULTIPROC_DIR")


multiprocess = pytest.mark.usefixtures("multiprocess_directory")


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return metric_samples(response.content.decode())


def post(client, body: bytes | str, key: str | None, content_type: str = "application/json"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/webhooks/advance/", data=body, content_type=content_type, headers=headers)


# Access ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_served_to_loopback_and_private_addresses_only(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="8.8.8.8").status_code == 403
    # Through a proxy the address is the proxy's: whoever is behind it is not trusted.
    assert client.get("/metrics", headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 403


@pytest.mark.django_db
def test_with_a_token_configured_only_the_token_opens_the_metrics(client, settings):
    settings.METRICS_TOKEN = "scrape-me"

    refused = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = client.get("/metrics", REMOTE_ADDR="8.8.8.8", headers={"Authorization": "Bearer scrape-me"})

    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200 and b"advance_sync_webhook_received_total" in right.content


def test_rejection_causes_are_a_short_bounded_set():
    assert rejection_cause_label(http_status=401, cause="unknown or inactive source 'x'") == "unauthenticated"
    assert rejection_cause_label(http_status=413, cause="The body is larger than 1048576 bytes.") == "too_large"
    assert rejection_cause_label(http_status=400, cause="missing or malformed field") == "missing_or_malformed_field"
    assert len(rejection_cause_label(http_status=400, cause="x" * 500)) <= 40


# Values move -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_intake_counters_and_the_answer_latency_move_with_each_delivery(client, source, settings):
    _, key = token_issue(source=source, name="metrics test")
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    before = scrape(client)

    answers = [
        post(client, event_json("m-1"), key).status_code,
        post(client, event_json("m-1"), key).status_code,
        post(client, event_json("m-2"), key).status_code,
        post(client, "{not json", key).status_code,
        post(client, event_json("m-3"), "whk_unknown-key-xxxxxxxxxxxxxxxxxxxxxxx").status_code,
        post(client, "x" * 3000, key).status_code,
        post(client, "a=b", key, content_type="text/plain").status_code,
    ]
    after = scrape(client)

    assert answers == [202, 200, 202, 400, 401, 413, 415]

    def moved(name: str, **labels) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert moved("advance_sync_webhook_received_total") == 7
    assert moved("advance_sync_webhook_accepted_total") == 2
    assert moved("advance_sync_webhook_duplicate_total") == 1
    assert moved("advance_sync_webhook_rejected_total", cause="invalid_json") == 1
    assert moved("advance_sync_webhook_rejected_total", cause="unauthenticated") == 1
    assert moved("advance_sync_webhook_rejected_total", cause="too_large") == 1
    assert moved("advance_sync_webhook_rejected_total", cause="unsupported_media_type") == 1
    assert moved("advance_sync_webhook_answer_seconds_count", status="202") == 2
    assert moved("advance_sync_webhook_answer_seconds_count", status="200") == 1
    assert moved("advance_sync_webhook_answer_seconds_bucket", status="202", le="+Inf") == 2
    assert moved("advance_sync_webhook_answer_seconds_sum", status="202") > 0


@pytest.mark.django_db
def test_the_backlog_gauges_are_read_from_the_database_at_scrape_time(client, source, frozen_now):
    now = frozen_now
    for number in range(3):
        document_make(source, document_id=f"p{number}", status=Document.Status.PENDING)
    document_make(source, document_id="s", status=Document.Status.SYNCING)
    document_make(source, document_id="f", status=Document.Status.FAILED)
    Document.objects.filter(advance_id="p0").update(created_at=now - timedelta(hours=2))

    samples = scrape(client)

    assert metric(samples, "advance_sync_documents_backlog") == 4
    assert metric(samples, "advance_sync_documents_backlog_oldest_age_seconds") == 7200
    assert metric(samples, "advance_sync_documents", status="failed") == 1
    assert metric(samples, "advance_sync_documents", status="dead") == 0
    assert metric(samples, "advance_sync_database_up") == 1


@pytest.mark.django_db
def test_the_backlog_gauges_and_the_dashboard_show_the_same_figures(client, source, frozen_now):
    now = frozen_now
    statuses = ["pending"] * 3 + ["syncing"] * 2 + ["stored"] * 4 + ["failed"] + ["dead"] * 2
    for number, status in enumerate(statuses):
        document_make(source, document_id=f"d{number}", status=status)
    Document.objects.filter(advance_id="d3").update(created_at=now - timedelta(hours=3))  # syncing, the oldest

    samples = scrape(client)
    figures = dashboard_figures()

    for status in Document.Status.values:
        assert metric(samples, "advance_sync_documents", status=status) == statuses.count(status)
    assert (figures.pending, figures.syncing, figures.failed, figures.dead) == (3, 2, 1, 2)
    assert metric(samples, "advance_sync_documents_backlog") == figures.waiting == 5
    assert figures.oldest_pending_at == now - timedelta(hours=3)
    assert metric(samples, "advance_sync_documents_backlog_oldest_age_seconds") == 3 * 3600


@multiprocess
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_sync_counters_move_when_a_worker_syncs_documents(client, celery_worker, advance, source, bucket, live_server):
    _, key = token_issue(source=source, name="metrics test")
    docx, pdf, missing = SimDocument(kind="docx"), SimDocument(name="Invoice", kind="pdf"), SimDocument(kind="pdf")
    work_item = advance.add_work_item(documents=[docx, pdf, missing])
    advance.fail_next(1, 404, path_contains=missing.id)
    before = scrape(client)

    response = requests.post(
        f"{live_server.url}/webhooks/advance/",
        data=json.dumps(advance.event_payload(work_item)),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202

    def settled() -> bool:
        return Document.objects.count() == 3 and not Document.objects.filter(status__in=["pending", "syncing"]).exists()

    wait_for(settled, timeout=60, message="the documents to settle")

    def moved(name: str, **labels) -> float:
        return metric(scrape(client), name, **labels) - metric(before, name, **labels)

    # The worker's counts reach this process's /metrics through the shared directory.
    wait_for(lambda: moved("advance_sync_documents_synced_total") == 2, timeout=10, message="synced counter")
    assert moved("advance_sync_documents_failed_total") == 1
    assert moved("advance_sync_document_downloaded_bytes_total") == len(document_bytes(docx)) + len(document_bytes(pdf))
    assert moved("advance_sync_document_sync_seconds_count") == 2
    assert moved("advance_sync_document_download_seconds_count") == 2
    assert moved("advance_sync_webhook_accepted_total") == 1


# Several gunicorn workers ------------------------------------------------------------------


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """The app under gunicorn with config/gunicorn.py: three workers on the test database."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = dict(os.environ)
    env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--config", "python:config.gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "1",
        ],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited: {(tmp_path / 'gunicorn.log').read_text()}")
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_for(answers, timeout=30, message="gunicorn")
    yield url, metrics_dir
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.mark.integration
def test_metrics_add_up_every_gunicorn_worker(gunicorn, source):
    url, metrics_dir = gunicorn
    _, key = token_issue(source=source, name="metrics test")

    def send(number: int) -> int:
        headers = {"Content-Type": "application/json"}
        if number % 2:
            headers["Authorization"] = f"Bearer {key}"
            body = "{broken"
        else:
            headers["Authorization"] = "Bearer whk_not-a-key-xxxxxxxxxxxxxxxxxxxxxxxx"
            body = "{}"
        # A fresh connection each time: any worker may take it.
        return requests.post(f"{url}/webhooks/advance/", data=body, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(send, range(36)))
    assert sorted(set(answers)) == [400, 401]

    processes = {path.stem.split("_", 1)[1] for path in Path(metrics_dir).glob("counter_*.db")}
    assert len(processes) >= 2, f"only {processes} answered: the test proves nothing"
    for _ in range(6):  # whichever worker answers the scrape, it counts them all
        samples = metric_samples(requests.get(f"{url}/metrics", timeout=10).text)
        assert metric(samples, "advance_sync_webhook_received_total") == 36
        assert metric(samples, "advance_sync_webhook_rejected_total", cause="invalid_json") == 18
        assert metric(samples, "advance_sync_webhook_rejected_total", cause="unauthenticated") == 18
        time.sleep(0.05)


def test_a_forked_process_counts_in_files_of_its_own():
    from core.metrics import process_identifier

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: says what it would name its metric files, and leaves at once
        os.write(write, process_identifier().encode())
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write)

    assert os.read(read, 200).decode() == process_identifier(child) != process_identifier()

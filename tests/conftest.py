"""Fixtures over the real services that `make test` starts (PostgreSQL, Redis, moto_server).

Integration tests use `live_server` (real HTTP into the app), `celery_worker` (a real worker
process on the test database) and `advance` (the simulated Advance over real HTTP).
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.db import OperationalError, connection

from advance_sim import SimulatedAdvance
from webhooks.models import Source
from webhooks.services import source_save, token_issue

BASE_DIR = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright keeps an event loop running in the main thread until the
    session ends, and Django refuses ORM calls under a running loop (tests/browser allows them)."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid)


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 30, interval: float = 0.05, message: str = ""
) -> object:
    """Poll until predicate() is truthy and return its value; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def _flush_retried_after_a_deadlock() -> Iterator[None]:
    """A transactional test ends by truncating every table while the suite's Celery worker may
    still be processing what that test left (its relay and tasks lock rows of several tables).
    PostgreSQL breaks such a deadlock by failing one side, here the TRUNCATE: try it again, as
    the next test would otherwise start on the previous one's rows."""
    operations = type(connection.ops)
    original = operations.execute_sql_flush

    def execute_sql_flush(self, sql_list) -> None:
        for attempt in range(5):
            try:
                return original(self, sql_list)
            except OperationalError as error:
                if "deadlock detected" not in str(error) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture
def advance() -> Iterator[SimulatedAdvance]:
    with SimulatedAdvance() as simulated:
        yield simulated


@pytest.fixture
def source(db, advance: SimulatedAdvance) -> Source:
    source, _ = source_save(
        slug="acme",
        name="Acme tenancy",
        api_base_url=advance.api_base_url,
        auth_base_url=advance.auth_base_url,
        client_name=advance.client_name,
        principal_name=advance.principal_name,
        principal_password=advance.principal_password,
    )
    return source


@pytest.fixture
def token_key(source: Source) -> str:
    _, key = token_issue(source=source, name="test webhook")
    return key


# S3 --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_client():
    if not settings.AWS_STORAGE_BUCKET_NAME:
        pytest.skip("no S3 server configured (run the suite with `make test`)")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"], region_name="us-east-1")
    existing = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    if settings.AWS_STORAGE_BUCKET_NAME not in existing:
        client.create_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)
    return client


@pytest.fixture
def bucket(s3_client) -> Iterator["Bucket"]:
    """The documents bucket, emptied before the test."""
    bucket = Bucket(s3_client, settings.AWS_STORAGE_BUCKET_NAME)
    bucket.empty()
    yield bucket


class Bucket:
    def __init__(self, client, name: str):
        self.client = client
        self.name = name

    def keys(self) -> list[str]:
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def get(self, key: str) -> dict:
        return self.client.get_object(Bucket=self.name, Key=key)

    def empty(self) -> None:
        for key in self.keys():
            self.client.delete_object(Bucket=self.name, Key=key)


# Celery ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator["WorkerProcess"]:
    """A real `celery worker` process, on the test database and the broker `make test` started."""
    with django_db_blocker.unblock():
        test_database = connection.settings_dict["NAME"]
    worker = WorkerProcess(test_database, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


class WorkerProcess:
    """`celery -A config worker` as the README tells users to start it: no -Q, -c or -P.

    `queues` is only for the tests of splitting the queues across workers (`-Q`).
    """

    def __init__(
        self,
        database_name: str,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        *,
        queues: list[str] | None = None,
    ):
        self.database_name = database_name
        self.log_path = log_path
        self.extra_env = extra_env or {}  # settings read from the environment, e.g. shorter leases
        self.queues = queues
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        url = env["DATABASE_URL"]
        env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + self.database_name
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        from config.celery_app import app

        self.hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--hostname",
                self.hostname,
                *(["-Q", ",".join(self.queues)] if self.queues else []),
            ],
            cwd=BASE_DIR,
            env=self.environment(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the Celery worker exited; see {self.log_path}")
            return bool(app.control.ping(destination=[self.hostname], timeout=0.5))

        wait_for(answers, timeout=60, message="the Celery worker")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

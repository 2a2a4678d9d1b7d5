"""Fixtures over the real services that `make test` starts (PostgreSQL, Redis, moto_server).

Integration tests use `live_server` (real HTTP into the app), `celery_worker` (a real worker
process on the test database) and `advance` (the simulated Advance over real HTTP).
"""

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.db import connection
from django.test.testcases import QuietWSGIRequestHandler
from django.utils import timezone

from advance_sim import SimulatedAdvance
from advance_sim import server as advance_server
from sources.models import Source
from sources.services import source_save
from tests.factories import source_make
from tests.support.processes import WorkerProcess, queues_purge, worker_rest, worker_resume
from tests.support.required import service_missing
from webhooks.services import token_issue

# Workers that outlive one test: brought to rest before each of their tests ends.
LASTING_WORKERS = ("celery_worker", "fast_worker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order of the run, so that a worker runs only beside the tests that use it:

    - browser tests last: Playwright keeps an event loop running in the main thread until the
      session ends, and Django refuses ORM calls under a running loop (tests/browser allows them);
    - the tests of the suite's worker (`celery_worker`, `stack`) together: after the others, and
      first of the browser tests, so that it starts once and stops after the last of them;
    - in a module, the tests of its own worker (`fast_worker`) last: it stops with the module.
    """
    modules: dict[Path, int] = {}
    for item in items:
        modules.setdefault(item.path, len(modules))

    def place(item: pytest.Item) -> tuple:
        browser = "tests/browser/" in item.nodeid
        suite_worker = "celery_worker" in getattr(item, "fixturenames", ())
        own_worker = "fast_worker" in getattr(item, "fixturenames", ())
        return (browser, suite_worker != browser, modules[item.path], own_worker)

    items.sort(key=place)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Before a test's fixtures end (the test database is flushed last), its lasting workers come
    to rest (resumed by the next test that asks for them); a worker that does not is stopped, and
    started again by the next test that asks for it. After: the suite's worker stops unless the
    next test uses it, and the queues are emptied of what the test left."""
    funcargs = getattr(item, "funcargs", {})
    for name in LASTING_WORKERS:
        worker = funcargs.get(name)
        if isinstance(worker, WorkerProcess) and worker.running and not worker_rest(worker):
            worker.stop()
    try:
        return (yield)
    finally:
        suite_worker = funcargs.get("celery_worker")
        if suite_worker is not None and (nextitem is None or "celery_worker" not in nextitem.fixturenames):
            suite_worker.stop()
        queues_purge()


@pytest.fixture(scope="session", autouse=True)
def _audit_log_truncated_between_tests(django_db_setup, django_db_blocker) -> None:
    """The flush that ends a transactional test truncates every table, and the audit log's trigger
    refuses TRUNCATE unless the session says audit.truncate_allowed (audit/migrations/0002). The
    test database says it for every session opened on it from now on (ALTER DATABASE ... SET), so
    the flush goes through; a production database never does. The connection opened before is
    closed, to take it up too."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"ALTER DATABASE {name} SET audit.truncate_allowed = 'on'")
        connection.close()


@pytest.fixture(scope="session", autouse=True)
def _answers_sent_at_once() -> Iterator[None]:
    """The test servers in this process (`live_server`, the simulated Advance) send each answer at
    once. Their handlers write an answer's headers and its body apart, and with Nagle's algorithm
    on, the body waits for the client to acknowledge the headers, which Linux delays by up to
    40 ms: on every call a worker makes to Advance, and on every request schemathesis sends."""
    with pytest.MonkeyPatch.context() as patch:
        # socketserver.StreamRequestHandler's switch for TCP_NODELAY on each connection.
        patch.setattr(QuietWSGIRequestHandler, "disable_nagle_algorithm", True)
        patch.setattr(advance_server._Handler, "disable_nagle_algorithm", True)
        yield


@pytest.fixture
def frozen_now(monkeypatch) -> datetime:
    """timezone.now() stands still for the test, at the moment it asked: what this process's code
    reads as now (auto_now_add too) is exactly this. Not the workers' clocks, nor a model default
    that holds timezone.now itself (Delivery.received_at)."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


@pytest.fixture
def advance() -> Iterator[SimulatedAdvance]:
    with SimulatedAdvance() as simulated:
        yield simulated


@pytest.fixture
def source(db, request: pytest.FixtureRequest) -> Source:
    """The tenancy "acme": at the test's simulated Advance when the test asks for one (`advance`),
    else at a loopback port that refuses at once, with no server started for a test that never
    calls Advance."""
    if "advance" not in request.fixturenames:
        return source_make(
            "acme",
            name="Acme tenancy",
            api_base_url="http://127.0.0.1:9/api/rest/v1.1",
            auth_base_url="http://127.0.0.1:9/auth",
            client_name="acme-client",
            principal_name="acme-sync",
            principal_password="acme-password",
        )
    advance: SimulatedAdvance = request.getfixturevalue("advance")
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


@pytest.fixture
def other_source(db) -> Source:
    """A second tenancy, "globex", at an Advance that is never called."""
    return source_make("globex")


@pytest.fixture
def filesystem_storage(settings, tmp_path) -> Path:
    """Documents stored under tmp_path instead of S3, for the admin's download and preview."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "allow_overwrite": True},
        },
    }
    return tmp_path


# The whole stack -------------------------------------------------------------------------


@pytest.fixture
def webhook_url(live_server) -> str:
    """The webhook endpoint over real HTTP."""
    return f"{live_server.url}/webhooks/advance/"


@pytest.fixture
def stack(celery_worker, bucket, webhook_url) -> WorkerProcess:
    """Everything running: the app over HTTP, the suite's Celery worker, the emptied bucket."""
    return celery_worker


# S3 --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_client():
    if not settings.AWS_STORAGE_BUCKET_NAME:
        service_missing("The S3 server (AWS_STORAGE_BUCKET_NAME)")
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


@pytest.fixture
def locked_bucket(s3_client, settings) -> "Bucket":
    """A bucket of the test's own, created with Object Lock (so versioned), as the documents' storage
    of this process (a worker takes AWS_STORAGE_BUCKET_NAME=locked_bucket.name from its environment).

    One per test: its locked versions cannot be deleted, so it is never emptied. The suite's other
    tests keep the unlocked `bucket`."""
    name = f"locked-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    default = settings.STORAGES["default"]
    settings.AWS_STORAGE_BUCKET_NAME = name
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], "bucket_name": name}},
    }
    return Bucket(s3_client, name)


class Bucket:
    def __init__(self, client, name: str):
        self.client = client
        self.name = name

    def versions(self, key: str) -> list[str]:
        """The key's version ids, newest first (a bucket with Object Lock keeps every version)."""
        answer = self.client.list_object_versions(Bucket=self.name, Prefix=key)
        return [version["VersionId"] for version in answer.get("Versions", []) if version["Key"] == key]

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
def _suite_worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WorkerProcess]:
    with django_db_blocker.unblock():
        test_database = connection.settings_dict["NAME"]
    worker = WorkerProcess(test_database, tmp_path_factory.mktemp("worker") / "worker.log")
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(_suite_worker: WorkerProcess) -> WorkerProcess:
    """The suite's `celery worker` process, on the test database and the broker `make test` started.

    One for the tests that use it, which run one after the other (pytest_collection_modifyitems):
    started by the first, at rest at the end of each (pytest_runtest_teardown), stopped after the
    last. Its log (`log_text()`) runs on across them."""
    if _suite_worker.running:
        worker_resume(_suite_worker)
    else:
        queues_purge()
        _suite_worker.start()
    return _suite_worker

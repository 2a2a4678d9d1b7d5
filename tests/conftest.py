"""Fixtures over the real services that `make test` starts (PostgreSQL, Redis, moto_server).

Integration tests use `live_server` (real HTTP into the app), `celery_worker` (a real worker
process on the test database) and `advance` (the simulated Advance over real HTTP).
"""

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction

from advance_sim import SimulatedAdvance
from sources.models import Source
from sources.services import source_save
from tests.factories import source_make
from tests.support.processes import WorkerProcess
from tests.support.required import service_missing
from webhooks.services import token_issue


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright keeps an event loop running in the main thread until the
    session ends, and Django refuses ORM calls under a running loop (tests/browser allows them)."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid)


@pytest.fixture(scope="session", autouse=True)
def _flush_between_tests() -> Iterator[None]:
    """The flush that ends a transactional test: let through the audit log's trigger, and retried
    after a deadlock. It truncates every table while the suite's Celery worker may still be
    processing what that test left (its relay and tasks lock rows of several tables). PostgreSQL
    breaks such a deadlock by failing one side, here the TRUNCATE: try it again, as the next test
    would otherwise start on the previous one's rows."""
    operations = type(connection.ops)
    original = operations.execute_sql_flush

    def flush(self, sql_list) -> None:
        if self.connection.vendor != "postgresql":
            return original(self, sql_list)
        # The audit log's tables refuse TRUNCATE (audit/migrations/0002) unless the transaction
        # says audit.truncate_allowed: the flush between tests is the one TRUNCATE let through.
        with transaction.atomic(using=self.connection.alias):
            with self.connection.cursor() as cursor:
                cursor.execute("SET LOCAL audit.truncate_allowed = 'on'")
            return original(self, sql_list)

    def execute_sql_flush(self, sql_list) -> None:
        for attempt in range(5):
            try:
                return flush(self, sql_list)
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
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WorkerProcess]:
    """A real `celery worker` process, on the test database and the broker `make test` started."""
    with django_db_blocker.unblock():
        test_database = connection.settings_dict["NAME"]
    worker = WorkerProcess(test_database, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()

"""Fixtures of the fault-injection tests: a worker of their own with short leases and backoffs.

Each test runs with no other worker beside its own (the suite's would run the tasks under the
production defaults), the sweeps' staleness at one second, and the real services.
"""

from collections.abc import Iterator

import pytest
from django.db import connection

from tests.support.faults import MotoServer, RedisServer, only_these_workers, worker_start
from tests.support.processes import WorkerProcess, worker_resume


@pytest.fixture(scope="package")
def database_name(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return connection.settings_dict["NAME"]


@pytest.fixture(scope="module")
def fast_worker(database_name, tmp_path_factory) -> Iterator[WorkerProcess]:
    """A real worker process reading the short waits of faults.FAST_SETTINGS from its environment.

    One per module, for the module's last tests (tests/conftest.py orders them so), at rest at the
    end of each: this package also holds tests run by the suite's own worker under the production
    defaults, which a fast worker left running would race for their tasks."""
    worker = worker_start(database_name, tmp_path_factory.mktemp("fast-worker") / "worker.log")
    yield worker
    worker.stop()


@pytest.fixture
def quick_sweeps(settings) -> None:
    settings.SWEEP_STALE_SECONDS = settings.SWEEP_QUIET_SECONDS = 1


@pytest.fixture
def fast_stack(fast_worker, bucket, webhook_url, quick_sweeps) -> WorkerProcess:
    """Everything running, with fast_worker the only worker."""
    if fast_worker.running:
        worker_resume(fast_worker)  # brought to rest at the end of the module's previous test
    else:  # stopped after a test it did not come to rest in
        fast_worker.start()
    only_these_workers(fast_worker)
    return fast_worker


@pytest.fixture
def own_worker(database_name, tmp_path, bucket, webhook_url, quick_sweeps) -> Iterator[WorkerProcess]:
    """Like fast_stack, with a worker of the test's own: for tests that may leave it broken."""
    only_these_workers()
    worker = worker_start(database_name, tmp_path / "worker.log")
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def started(database_name, tmp_path, bucket, webhook_url, quick_sweeps):
    """start(queues=None, **env): a worker of this test's own; while the test runs, only these run."""
    workers = []

    def start(queues: list[str] | None = None, **env: str) -> WorkerProcess:
        worker = worker_start(database_name, tmp_path / f"worker-{len(workers)}.log", queues=queues, **env)
        workers.append(worker)
        return worker

    only_these_workers()
    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()


@pytest.fixture
def redis_server() -> RedisServer:
    return RedisServer()


@pytest.fixture
def moto_server() -> MotoServer:
    return MotoServer()

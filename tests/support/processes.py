"""Processes of the real stack started by the tests: the repository root, free ports, Celery
workers, and what keeps a worker from racing the end of a test (an empty broker, a worker at rest)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Queue
from kombu.exceptions import ChannelError

from core.queues import queue_names
from tests.support.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        self.log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

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

        _started.add(self)
        wait_for(answers, timeout=60, message="the Celery worker")

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        _started.discard(self)
        if self.log is not None:
            self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


_started: set[WorkerProcess] = set()


def workers_running() -> list[WorkerProcess]:
    """The workers the tests started that are running now (not stopped, not killed)."""
    return [worker for worker in _started if worker.running]


# Between tests ---------------------------------------------------------------------------


def queues_purge() -> int:
    """Drop every message waiting on the app's queues; return how many there were."""
    from config.celery_app import app

    return app.control.purge()


def queue_depth(name: str) -> int:
    """How many messages wait on the queue (not counting those a worker has taken)."""
    from config.celery_app import app

    with app.connection_for_read() as conn, conn.channel() as channel:
        try:
            return Queue(name, channel=channel).queue_declare(passive=True).message_count
        except ChannelError:
            return 0  # never declared: nothing was ever published to it


def _consumed(worker: WorkerProcess) -> set[str]:
    from config.celery_app import app

    replies = app.control.inspect(destination=[worker.hostname], timeout=5).active_queues() or {}
    if worker.hostname not in replies:
        pytest.fail(f"the worker {worker.hostname} does not answer; see {worker.log_path}")
    return {queue["name"] for queue in replies[worker.hostname]}


def worker_tasks(worker: WorkerProcess) -> dict[str, list[str]]:
    """The ids of the tasks the worker runs (active), holds for a free thread (reserved) and holds
    for later (scheduled: a retry's countdown)."""
    from config.celery_app import app

    inspect = app.control.inspect(destination=[worker.hostname], timeout=5)
    return {
        "active": [task["id"] for task in (inspect.active() or {}).get(worker.hostname, [])],
        "reserved": [task["id"] for task in (inspect.reserved() or {}).get(worker.hostname, [])],
        "scheduled": [entry["request"]["id"] for entry in (inspect.scheduled() or {}).get(worker.hostname, [])],
    }


def worker_rest(worker: WorkerProcess, *, timeout: float = 30) -> bool:
    """Bring the worker to rest, so that the test database is flushed under no task of it (a
    TRUNCATE beside a task that locks several tables can deadlock); worker_resume undoes it.
    Return False if it is still busy after `timeout` seconds: the caller stops it.

    It stops taking messages (its consumers are cancelled), the tasks it has taken end, and a
    retry it holds for later, what the test left, is revoked. What its relay may still publish
    waits in the queues until they are purged: it writes to one table at a time, which a
    TRUNCATE waits for or makes wait, and never deadlocks with.
    """
    from config.celery_app import app

    for queue in queue_names():
        app.control.cancel_consumer(queue, destination=[worker.hostname])
    revoked: set[str] = set()

    def busy() -> bool:
        if _consumed(worker):
            return True  # not every cancellation has reached it yet
        tasks = worker_tasks(worker)
        if tasks["active"] or tasks["reserved"]:
            return True
        if later := set(tasks["scheduled"]) - revoked:
            app.control.revoke(sorted(later), destination=[worker.hostname])
            revoked.update(later)
        return False

    deadline = time.monotonic() + timeout
    while worker.running:
        if not busy():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def worker_resume(worker: WorkerProcess) -> None:
    """Let a worker brought to rest take messages again, from queues emptied of what earlier tests left."""
    from config.celery_app import app

    queues_purge()
    missing = set(queue_names()) - _consumed(worker)
    for queue in sorted(missing):
        app.control.add_consumer(queue, destination=[worker.hostname])
    if missing:
        wait_for(
            lambda: set(queue_names()) <= _consumed(worker), timeout=10, interval=0.02, message="the worker to resume"
        )

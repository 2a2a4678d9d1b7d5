"""Processes of the real stack started by the tests: the repository root, free ports, Celery workers."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

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

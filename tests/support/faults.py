"""Helpers for the fault-injection tests: stopping and restarting the services `make test`
started (by the PIDs and command lines of scripts/services.sh), killing worker processes, a
stand-in for beat, and waits on the outcome in the database."""

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import psutil
import pytest
import redis
from django.conf import settings
from django.db import connection

from documents.queueing import documents_requeue_stalled
from tests.support.processes import BASE_DIR, WorkerProcess, workers_running
from tests.support.waiting import wait_for
from webhooks.services import deliveries_requeue_stalled

# What the workers of these tests read from the environment: every wait of the production
# defaults (a minute's lease, 5 s backoff, 10 retries, 60 s read timeout) cut to seconds.
FAST_SETTINGS = {
    "DOCUMENT_LEASE_SECONDS": "3",
    "RETRY_BACKOFF_BASE_SECONDS": "0.5",  # waits of 0.25-0.5, 0.5-1, 1-2, 2-4 s
    "DOCUMENT_SYNC_MAX_RETRIES": "4",  # dead on the 5th failed attempt, 4-8 s after the first
    "ADVANCE_READ_TIMEOUT": "2",
    "DOCUMENT_MAX_BYTES": str(4 * 1024 * 1024),
}


# Workers -----------------------------------------------------------------------------------


def worker_start(
    database_name: str, log_path: Path, *, queues: list[str] | None = None, **extra_env: str
) -> WorkerProcess:
    worker = WorkerProcess(database_name, log_path, extra_env={**FAST_SETTINGS, **extra_env}, queues=queues)
    worker.start()
    return worker


def only_these_workers(*workers: WorkerProcess) -> None:
    """Fail the test if a worker other than these runs: its tasks must run under its workers' short
    leases and backoffs, never under the production defaults of the suite's worker or of a worker
    another test started (the order of the run keeps them apart: tests/conftest.py)."""
    others = [worker.hostname for worker in workers_running() if worker not in workers]
    if others:
        pytest.fail(f"other workers run beside this test: {', '.join(sorted(others))}")


def worker_reconnected(worker: WorkerProcess, timeout: float = 30) -> None:
    """Wait until the worker answers through the broker again; fail at once if it died instead."""
    from config.celery_app import app

    def answers() -> bool:
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited when the broker went away; see {worker.log_path}")
        try:
            return bool(app.control.ping(destination=[worker.hostname], timeout=0.5))
        except (redis.ConnectionError, OSError):
            return False  # this process's own connection from before the restart: the next try opens another

    wait_for(answers, timeout=timeout, message="the worker to reconnect to the broker")


def process_tree(worker: WorkerProcess) -> list[psutil.Process]:
    main = psutil.Process(worker.process.pid)
    return [main, *main.children(recursive=True)]


def kill_whole_worker(worker: WorkerProcess) -> None:
    """SIGKILL the worker's main process and its pool at one instant, as a lost machine would.

    Stopped first, so that no process of the tree sees another die and reacts (the main process
    would otherwise requeue the task of a killed child).
    """
    tree = process_tree(worker)
    for process in tree:
        process.send_signal(signal.SIGSTOP)
    spooled = spool_files(tree)
    for process in tree:
        process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=10)
    psutil.wait_procs(tree, timeout=10)
    _remove(spooled)


def spool_files(processes: list[psutil.Process]) -> list[Path]:
    """The download spool files (documents/storage.py) these processes have open.

    A process killed with SIGKILL leaves its spool file behind; the tests remove them so that
    their runs do not fill /tmp.
    """
    found = []
    for process in processes:
        try:
            found += [Path(f.path) for f in process.open_files() if Path(f.path).name.startswith("advance-sync-")]
        except psutil.NoSuchProcess:
            continue
    return found


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# Services started by `make test` -----------------------------------------------------------


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _Restartable:
    @contextmanager
    def down(self) -> Iterator[None]:
        """The server is stopped inside the block and started again after it, whatever happens."""
        self.stop()
        try:
            yield
        finally:
            self.start()


class RedisServer(_Restartable):
    """The broker scripts/services.sh started: stopped by its pidfile, started with its command line."""

    def __init__(self) -> None:
        self.port = int(os.environ["REDIS_PORT"])
        self.dir = Path(os.environ["REDIS_DIR"])

    def stop(self) -> None:
        pid = int((self.dir / "redis.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not port_open(self.port), timeout=10, message="Redis to stop")

    def start(self) -> None:
        # scripts/services.sh's command line, word for word.
        command = (
            f"redis-server --bind 127.0.0.1 --port {self.port} --daemonize yes --save '' --appendonly no"
            f" --dir {self.dir} --pidfile {self.dir}/redis.pid --logfile {self.dir}/redis.log"
        )
        subprocess.run(shlex.split(command), check=True)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        wait_for(lambda: _answers(client), timeout=10, message="Redis to start")
        # This process's pooled broker connection dates from before the restart: it fails once, then reconnects.
        wait_for(_app_reconnected, timeout=10, message="this process to reconnect to the broker")


def _app_reconnected() -> bool:
    from config.celery_app import app

    try:
        app.control.ping(timeout=0.1)
    except (redis.ConnectionError, OSError):
        return False
    return True


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


_moto_processes: list[subprocess.Popen] = []  # kept referenced; stopped by services_stop through the pidfile


class MotoServer(_Restartable):
    """The S3 server scripts/services.sh started. It keeps its data in memory: a restart empties it."""

    def __init__(self) -> None:
        self.port = int(os.environ["S3_PORT"])
        self.pid_file = Path(os.environ["MOTO_PID_FILE"])

    def stop(self) -> None:
        pid = int(self.pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        # Not our child (while the shell has not reaped it, the PID stays): the port tells.
        wait_for(lambda: not port_open(self.port), timeout=10, message="the S3 server to stop")

    def start(self) -> None:
        log = open(self.pid_file.parent / "moto.log", "ab")  # noqa: SIM115 - the server's for its life
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _moto_processes.append(process)
        self.pid_file.write_text(f"{process.pid}\n")  # so that services_stop stops this one
        wait_for(lambda: port_open(self.port), timeout=20, message="the S3 server to start")
        client = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"], region_name="us-east-1")
        client.create_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)


# Beat -------------------------------------------------------------------------------------


@contextmanager
def sweeping(every: float = 0.5) -> Iterator[None]:
    """Run both sweeps every `every` seconds in a thread, as beat runs them every minute."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.wait(every):
                deliveries_requeue_stalled()
                documents_requeue_stalled()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="sweeps", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]


def elapsed(since: float) -> float:
    return time.monotonic() - since

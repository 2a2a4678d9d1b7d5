"""The worker's side of the extraction children: warm processes that parse one document after another.

A child (`python -m documents.search.extraction --serve`) is started once, loads the extractors'
libraries once and sets its memory limit once; the parent sends it a spooled file's path and waits
for the answer until the document's deadline. A child that runs late, breaks the protocol, dies or
runs out of memory is killed (and reaped) and never asked again; so is one that has served its
number of documents or whose resident memory once grew past its bound, so that what a parser
leaks or fragments cannot pile up. A child ends by itself when its standard input closes (the
worker is done, or dead). Kept free of Django, like the child.
"""

import atexit
import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from .extraction import ANSWER_HEADER, EXIT_CORRUPT, EXIT_MEMORY, EXIT_NO_TEXT, EXIT_OK

logger = logging.getLogger(__name__)

# What the parent keeps of a child's standard error per document: its first and last halves of this.
STDERR_KEEP_BYTES = 64 * 1024
PIPE_READ_BYTES = 64 * 1024
# How long a child closed with the pool has to end by itself before it is killed.
CLOSE_SECONDS = 2
# Answers after which the child is as fit as before: the parser refused the file, nothing more.
HEALTHY = (EXIT_OK, EXIT_NO_TEXT, EXIT_CORRUPT)
# The exit code reported for a child that ended without answering and without an exit code of its own.
EXIT_NO_ANSWER = 1
# The code reported for a child stopped for breaking the protocol, whatever its own exit: one that
# ended by itself just before it was killed may have exited 0, which would read as a good answer.
STOPPED = -signal.SIGKILL


class _Kept:
    """What is kept of a pipe: its first `head` bytes and its last `tail`, the rest counted."""

    def __init__(self, *, head: int, tail: int) -> None:
        self.head, self.tail = bytearray(), bytearray()
        self.head_max, self.tail_max = head, tail
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        del self.tail[: max(0, len(self.tail) - self.tail_max)]

    def value(self) -> bytes:
        left_out = self.total - len(self.head) - len(self.tail)
        if not left_out:
            return bytes(self.head + self.tail)
        return bytes(self.head) + b"\n[... %d bytes left out ...]\n" % left_out + bytes(self.tail)


@dataclass(frozen=True)
class Limits:
    """Per document: the time budget and the most the answer may hold; per child: when to recycle it."""

    seconds: float
    max_output: int
    documents: int  # answers a child gives before it is replaced
    peak_kib: int  # a child whose resident memory ever passed this (KiB) is replaced; 0: never


class Child:
    """One serving child process, used by one thread at a time."""

    def __init__(self, command: list[str], *, env: dict[str, str], cwd) -> None:
        self.command = command
        # close_fds (the default): a child started beside this one holds none of its pipes, so
        # this one sees its standard input close when the worker closes it.
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, bufsize=0
        )
        self.answered = 0
        self.peak_kib = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, request: bytes, *, seconds: float, max_output: int) -> tuple[subprocess.CompletedProcess, bool]:
        """Send one request and read its answer: the result (its returncode the answer's status, or
        the dead child's exit code) and whether the child may be asked again.

        Both pipes are drained as they fill, so the child never blocks on a full one, but the parent
        holds at most max_output bytes of answer (a child writing more is killed: it broke the
        protocol) and STDERR_KEEP_BYTES of standard error, its start and its end. Raises
        subprocess.TimeoutExpired, the child killed, after `seconds`.
        """
        deadline = time.monotonic() + seconds
        errors = _Kept(head=STDERR_KEEP_BYTES // 2, tail=STDERR_KEEP_BYTES // 2)
        answer = bytearray()
        size = None  # the answer's whole length, once its header is read
        status = peak_kib = 0
        with contextlib.suppress(BrokenPipeError):  # dead already: its end is read below
            self.process.stdin.write(request)
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ, answer)
            selector.register(self.process.stderr, selectors.EVENT_READ, errors)
            while size is None or len(answer) < size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise subprocess.TimeoutExpired(self.command, seconds)
                events = selector.select(remaining)
                for key, _ in events:
                    chunk = os.read(key.fd, PIPE_READ_BYTES)
                    if not chunk:
                        if key.data is answer:
                            return self._death(errors, selector, deadline), False
                        selector.unregister(key.fileobj)
                    elif key.data is errors:
                        errors.add(chunk)
                    else:
                        answer += chunk
                if size is None and len(answer) >= ANSWER_HEADER.size:
                    status, peak_kib, length = ANSWER_HEADER.unpack_from(answer)
                    size = ANSWER_HEADER.size + length
                    if status not in (*HEALTHY, EXIT_MEMORY):
                        return self._stopped(errors, b"an answer of unknown status %d" % status), False
                    if length > max_output:
                        return self._stopped(errors, b"an answer over %d bytes" % max_output), False
                if size is not None and len(answer) > size:
                    return self._stopped(errors, b"more than the %d bytes announced" % size), False
            # What it wrote to standard error just before answering may be there still.
            while selector.get_map() and any(key.data is errors for key, _ in selector.select(0)):
                chunk = os.read(self.process.stderr.fileno(), PIPE_READ_BYTES)
                if not chunk:
                    break
                errors.add(chunk)
        self.answered += 1
        self.peak_kib = max(self.peak_kib, peak_kib)
        payload = bytes(answer[ANSWER_HEADER.size :])
        del answer
        if status != EXIT_OK:
            errors.add(b"\n" + payload)
            payload = b""
        return subprocess.CompletedProcess(self.command, status, payload, errors.value()), status in HEALTHY

    def _stopped(self, errors: _Kept, why: bytes) -> subprocess.CompletedProcess:
        """Kill a child that broke the protocol; its result says why."""
        self.kill()
        errors.add(b"\n[%s: the extractor was stopped]" % why)
        return subprocess.CompletedProcess(self.command, STOPPED, b"", errors.value())

    def _death(self, errors: _Kept, selector, deadline: float) -> subprocess.CompletedProcess:
        """The child closed its answers without giving one: read its last words and its exit code."""
        for key in list(selector.get_map().values()):
            if key.data is not errors:
                selector.unregister(key.fileobj)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not selector.select(remaining):
                continue
            chunk = os.read(self.process.stderr.fileno(), PIPE_READ_BYTES)
            if not chunk:
                break
            errors.add(chunk)
        self.kill()
        return subprocess.CompletedProcess(self.command, self.process.returncode or EXIT_NO_ANSWER, b"", errors.value())

    def kill(self) -> None:
        """Kill the child (if it still runs), reap it and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._pipes_close()

    def close(self) -> None:
        """Let the child end by itself (its standard input closed), else kill it."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=CLOSE_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def _pipes_close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):  # a write still buffered into a dead child's standard input
                pipe.close()


class ChildPool:
    """Warm children for one worker process, each handed to one thread at a time.

    The pool does not bound how many run at once (the task's slots do: SEARCH_EXTRACT_CONCURRENCY);
    it keeps up to `keep` of them idle between documents and replaces each that may not be asked
    again at once, so that the next document finds it loaded.
    """

    def __init__(self) -> None:
        self._idle: list[Child] = []
        self._lock = threading.Lock()
        atexit.register(self.close)
        # A process forked from this one (a prefork pool) must not use, nor keep open, these pipes.
        os.register_at_fork(after_in_child=self._forget)

    def extract(
        self, *, path: str, kind: str, command: list[str], env: dict[str, str], cwd, limits: Limits, keep: int
    ) -> subprocess.CompletedProcess:
        """Extract one spooled file in a warm child: its answer as the one-shot child's result
        (returncode EXIT_OK and the payload in stdout, else the status or exit code and standard
        error). Raises subprocess.TimeoutExpired (the child killed) past limits.seconds."""
        request = json.dumps({"path": path, "kind": kind}).encode() + b"\n"
        child = self._checkout(command, env=env, cwd=cwd)
        reusable = False
        try:
            result, reusable = child.ask(request, seconds=limits.seconds, max_output=limits.max_output)
        finally:
            worn = child.answered >= limits.documents or (limits.peak_kib and child.peak_kib > limits.peak_kib)
            if reusable and not worn:
                self._checkin(child, keep=keep)
            else:
                child.kill()
                self._replace(command, env=env, cwd=cwd, keep=keep)
        return result

    def idle_pids(self) -> list[int]:
        """The process ids of the idle children (for tests and operators)."""
        with self._lock:
            return [child.pid for child in self._idle]

    def close(self) -> None:
        """End every idle child (at the worker's exit; a child in use ends when its thread's parent does)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()

    def _checkout(self, command: list[str], *, env: dict[str, str], cwd) -> Child:
        stale = []
        chosen = None
        with self._lock:
            while self._idle and chosen is None:
                child = self._idle.pop()
                # Dead (killed from outside between documents), or started with other settings.
                if child.command == command and child.alive():
                    chosen = child
                else:
                    stale.append(child)
        for child in stale:
            child.kill()
        return chosen or Child(command, env=env, cwd=cwd)

    def _replace(self, command: list[str], *, env: dict[str, str], cwd, keep: int) -> None:
        """Start a child in place of one killed, now: it loads while the worker records this document."""
        if not keep:
            return
        try:
            self._checkin(Child(command, env=env, cwd=cwd), keep=keep)
        except OSError:
            logger.exception("extraction child not started (the next document starts one)")

    def _checkin(self, child: Child, *, keep: int) -> None:
        with self._lock:
            if len(self._idle) < keep:
                self._idle.append(child)
                return
        child.close()

    def _forget(self) -> None:
        self._lock = threading.Lock()
        for child in self._idle:
            child._pipes_close()
        self._idle = []

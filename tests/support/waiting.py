"""Waits on an outcome (a row, a state, a process answering), failing the test after a timeout."""

import time
from collections.abc import Callable

import pytest

from documents.models import Document


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


def wait_until_settled(count: int, timeout: float = 60) -> list[Document]:
    """Wait until `count` documents exist and none is pending or syncing any more."""

    def settled():
        documents = list(Document.objects.select_related("version__work_item").order_by("pk"))
        busy = [d for d in documents if d.status in (Document.Status.PENDING, Document.Status.SYNCING)]
        return documents if len(documents) == count and not busy else None

    return wait_for(settled, timeout=timeout, message=f"{count} documents to settle")

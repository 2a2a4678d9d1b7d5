"""`BENCH_ONLY=audit`: what recording accesses costs the admin. The same requests (Django's test
client through the whole middleware stack, on the bench's PostgreSQL and S3), each timed with the
audit recording and without it, alternately in the same run: the Documents list searched (a
recorded search), the list unsearched (recorded by nobody: the control), a document's page (a
recorded view, with its recent accesses) and a download (a recorded presigned URL).

"Without" replaces audit.services.access_record by a function that writes nothing, and a page's
recent accesses by none: the same code paths less the audit's INSERT and its one read.
"""

import os
import statistics
import time
from contextlib import contextmanager
from unittest import mock

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from audit import services as audit_services
from audit.models import AccessRecord
from documents.admin import documents as documents_admin
from documents.models import Document, WorkItem, WorkItemVersion

DOCUMENTS = int(os.environ.get("BENCH_AUDIT_DOCUMENTS", "300"))
ROUNDS = int(os.environ.get("BENCH_AUDIT_ROUNDS", "40"))
PER_ROUND = 5  # requests of each kind per round, with recording then without


def seed(source) -> Document:
    work_items = WorkItem.objects.bulk_create(
        WorkItem(source=source, advance_id=f"audit-{n}", name=f"Lease {n}") for n in range(DOCUMENTS)
    )
    versions = WorkItemVersion.objects.bulk_create(
        WorkItemVersion(work_item=work_item, advance_id="v1", created_by_login="clerk@example.com")
        for work_item in work_items
    )
    documents = Document.objects.bulk_create(
        Document(
            version=version,
            source=source,
            advance_id="d1",
            name=f"Lease agreement {n}",
            status=Document.Status.STORED,
            filename=f"Lease agreement {n}.pdf",
            content_type="application/pdf",
            size=20000,
            storage_key=f"advance/{source.slug}/audit-{n}/v1/d1/Lease agreement {n}.pdf",
        )
        for n, version in enumerate(versions)
    )
    return documents[0]


@contextmanager
def without_recording():
    with (
        mock.patch.object(audit_services, "access_record", lambda *args, **kwargs: None),
        mock.patch.object(documents_admin, "document_accesses_recent", lambda **kwargs: []),
    ):
        yield


def _timed(client: Client, url: str, expected: int) -> float:
    started = time.perf_counter()
    response = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expected:
        raise SystemExit(f"{url} answered {response.status_code}, not {expected}")
    return elapsed


def run(source) -> dict:
    # The bench collects no static files: the admin's asset URLs are made unhashed, alike both ways.
    plain_static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain_static):
        return _run(source)


def _run(source) -> dict:
    document = seed(source)
    user = User.objects.filter(username="bench-audit").first() or User.objects.create_superuser("bench-audit")
    client = Client(SERVER_NAME="localhost", REMOTE_ADDR="127.0.0.1")
    client.force_login(user)
    pages = {
        "list searched": (reverse("admin:documents_document_changelist") + "?q=Lease+agreement", 200),
        "list (not recorded)": (reverse("admin:documents_document_changelist"), 200),
        "document page": (reverse("admin:documents_document_change", args=[document.pk]), 200),
        "download (presigned URL)": (reverse("admin:documents_document_download", args=[document.pk]), 302),
    }
    for url, expected in pages.values():  # warm both ways alike
        _timed(client, url, expected)
        with without_recording():
            _timed(client, url, expected)
    recorded_before = AccessRecord.objects.count()
    timings = {name: ([], []) for name in pages}
    for _ in range(ROUNDS):
        for name, (url, expected) in pages.items():
            ours, baseline = timings[name]
            ours += [_timed(client, url, expected) for _ in range(PER_ROUND)]
            with without_recording():
                baseline += [_timed(client, url, expected) for _ in range(PER_ROUND)]
    recorded = AccessRecord.objects.count() - recorded_before
    return {
        "pages": {
            name: (statistics.median(ours), statistics.median(baseline)) for name, (ours, baseline) in timings.items()
        },
        "requests": ROUNDS * PER_ROUND,
        "recorded": recorded,
        "expected_recorded": ROUNDS * PER_ROUND * 3,  # every kind but the unsearched list
    }

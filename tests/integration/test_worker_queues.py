"""Workers started the way the README tells users: a plain `celery -A config worker` takes every
queue the app publishes to, with the project's pool; `-Q` splits the queues across workers; and
work waiting on a queue that no worker consumes is named where operators look.

Every worker here is the test's own, the only one taking tasks during its test.
"""

import hashlib
import json
from io import StringIO

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from advance_sim import SimDocument, document_sha256
from config.celery_app import app
from core.queues import queue_names
from documents.models import Document
from tests.factories import send
from tests.support.waiting import wait_for, wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def send_event(advance, token_key, webhook_url, count: int) -> list[SimDocument]:
    documents = [SimDocument(name=f"Doc {n}", kind="pdf") for n in range(count)]
    work_item = advance.add_work_item(documents=documents)
    assert send(webhook_url, advance.event_payload(work_item), token_key).status_code == 202
    return documents


def assert_stored(documents: list[SimDocument], bucket) -> None:
    stored = wait_until_settled(len(documents), timeout=60)
    assert [d.status for d in stored] == [Document.Status.STORED] * len(documents), [d.last_error for d in stored]
    assert bucket.keys() == sorted(d.storage_key for d in stored)
    expected = sorted(document_sha256(d) for d in documents)
    in_s3 = sorted(hashlib.sha256(bucket.get(d.storage_key)["Body"].read()).hexdigest() for d in stored)
    assert in_s3 == expected


def purge(queue: str) -> None:
    with app.connection_for_write() as conn, conn.channel() as channel:
        channel.queue_purge(queue)


def test_every_task_is_routed_to_a_queue_a_plain_worker_consumes():
    app.loader.import_default_modules()
    declared = set(queue_names())
    ours = [name for name in app.tasks if name.split(".")[0] in {"documents", "webhooks", "interviews"}]
    assert "documents.tasks.document_sync" in ours
    routed = {name: app.amqp.router.route({}, name)["queue"].name for name in ours}
    assert {name: queue for name, queue in routed.items() if queue not in declared} == {}
    assert {"intake", "documents", "default"} <= declared


def test_plain_worker_consumes_every_queue_with_threads_and_stores_an_events_documents(
    started, advance, token_key, webhook_url, bucket
):
    worker = started()
    command = worker.process.args
    assert not {"-Q", "--queues", "-c", "--concurrency", "-P", "--pool"} & set(command)

    documents = send_event(advance, token_key, webhook_url, 3)

    assert_stored(documents, bucket)
    inspect = app.control.inspect(destination=[worker.hostname], timeout=2)
    consumed = {queue["name"] for queue in inspect.active_queues()[worker.hostname]}
    assert consumed == set(queue_names())
    pool = inspect.stats()[worker.hostname]["pool"]
    assert pool["max-concurrency"] == settings.CELERY_WORKER_CONCURRENCY == 20
    assert "processes" not in pool  # a prefork pool lists its child processes; threads have none


def test_workers_split_with_Q_store_the_documents_between_them(started, advance, token_key, webhook_url, bucket):
    intake = started(queues=["intake"])
    downloads = started(queues=["documents", "default"])

    documents = send_event(advance, token_key, webhook_url, 2)

    assert_stored(documents, bucket)
    # Which worker did what, by the lines it logs: a task it runs, an event its relay processes.
    log = downloads.log_text()
    assert "Task documents.tasks.document_sync[" in log and "version recorded:" not in log
    log = intake.log_text()
    assert "version recorded:" in log and "Task documents.tasks.document_sync[" not in log


def test_work_on_a_queue_no_worker_consumes_is_named_by_sync_status_readyz_and_the_dashboard(
    started, advance, token_key, webhook_url, live_server, admin_client, bucket
):
    purge("documents")  # a message left by another test would change the depth counted below
    purge("search")  # text extractions left by earlier tests' split workers, none of which took that queue
    started(queues=["intake", "default"])  # deliberately without "documents"
    documents = send_event(advance, token_key, webhook_url, 2)
    wait_for(lambda: Document.objects.count() == 2, message="the event to be processed")

    def documents_waiting() -> dict | None:
        answer = requests.get(f"{live_server.url}/readyz/queues", timeout=10)
        body = answer.json()
        return body if answer.status_code == 503 and body["queues"]["documents"]["depth"] == 2 else None

    body = wait_for(documents_waiting, timeout=20, message="/readyz/queues to name the documents queue")
    assert body["unconsumed"] == ["documents"]
    assert body["queues"]["documents"] == {"depth": 2, "consumers": 0, "state": "no worker consumes it"}
    assert body["queues"]["intake"]["consumers"] == 1 and body["queues"]["intake"]["state"] == "ok"
    assert requests.get(f"{live_server.url}/readyz", timeout=10).status_code == 200  # the web tier still serves

    out = StringIO()
    call_command("sync_status", stdout=out)
    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines() if line.strip()}
    assert rows["documents"][:3] == ["documents", "2", "0"]
    assert "NO WORKER CONSUMES THIS QUEUE" in " ".join(rows["documents"])
    assert rows["intake"][:3] == ["intake", "0", "1"]

    out = StringIO()
    call_command("sync_status", "--json", stdout=out)
    queues = {queue["name"]: queue for queue in json.loads(out.getvalue())["queues"]}
    assert queues["documents"]["waiting"] == 2 and queues["documents"]["consumers"] == []
    assert queues["documents"]["unconsumed"] is True and queues["intake"]["unconsumed"] is False

    page = admin_client.get("/admin/").content.decode()
    assert '<tr data-queue="documents" class="alert">' in page
    assert "No worker consumes this queue: its 2 waiting tasks will not run." in page

    # A worker for the queue takes the waiting work, and the check is green again.
    started(queues=["documents", "search"])  # stored documents queue their text extraction
    assert_stored(documents, bucket)
    # Its answer may be a few seconds old (core.queues.QUEUES_READING_SECONDS).
    wait_for(
        lambda: requests.get(f"{live_server.url}/readyz/queues", timeout=10).status_code == 200,
        timeout=15,
        message="/readyz/queues to be green again",
    )

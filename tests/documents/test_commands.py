"""The operators' commands: sync_status, resync and prune_deliveries."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from documents.management.commands._operator import ProgressBar
from documents.models import Document, WorkItemVersion
from tests.factories import delivery_make, document_make
from webhooks.models import Delivery
from webhooks.services.pruning import deliveries_prune

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def statuses(*documents: Document) -> list[str]:
    return [Document.objects.get(pk=document.pk).status for document in documents]


# sync_status -------------------------------------------------------------------------------


def test_sync_status_prints_a_table_per_source_with_counts_and_the_oldest_pending(source, other_source):
    document_make(source, document_id="a")
    document_make(source, document_id="b", status=Document.Status.FAILED)
    pending = document_make(source, document_id="c", status=Document.Status.PENDING)
    Document.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(hours=3, minutes=5))
    document_make(other_source, document_id="d", status=Document.Status.DEAD)
    delivery_make(other_source, status=Delivery.Status.FAILED, event_id="broken")

    lines = run("sync_status").splitlines()

    header = lines[0].split()
    assert header[:7] == ["SOURCE", "PENDING", "SYNCING", "STORED", "FAILED", "DEAD", "TOTAL"]
    rows = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert rows["acme"].split()[1:7] == ["1", "0", "1", "1", "0", "3"]
    assert "3 h 5 min" in rows["acme"]
    assert rows["globex"].split()[1:7] == ["0", "0", "0", "0", "1", "1"]
    assert rows["TOTAL"].split()[1:7] == ["1", "0", "1", "1", "1", "4"]


def test_sync_status_as_json(source, frozen_now):
    pending = document_make(source, status=Document.Status.PENDING)
    Document.objects.filter(pk=pending.pk).update(created_at=frozen_now - timedelta(seconds=90))

    [row] = json.loads(run("sync_status", "--json"))["sources"]

    assert row["source"] == "acme"
    assert row["documents"]["pending"] == 1 and row["total"] == 1
    assert row["oldest_pending_seconds"] == 90


def test_sync_status_without_sources_says_so(db):
    assert "No sources yet" in run("sync_status")


# resync ------------------------------------------------------------------------------------


def test_resync_by_work_item_retries_its_failed_and_pending_documents_only(source):
    failed = document_make(source, document_id="a", status=Document.Status.FAILED, last_error="404")
    dead = document_make(source, document_id="b", status=Document.Status.DEAD)
    stored = document_make(source, document_id="c")
    other = document_make(source, work_item_id="wi-2", version_id="v-2", status=Document.Status.FAILED)

    output = run("resync", "--work-item", "wi-1")

    assert "Queued 2 documents again; left 1 alone" in output
    assert statuses(failed, dead, stored, other) == ["pending", "pending", "stored", "failed"]
    assert Document.objects.get(pk=failed.pk).last_error == ""
    assert Document.objects.get(pk=failed.pk).due_at is not None


def test_resync_finds_a_work_item_by_name_and_downloads_stored_ones_again_when_asked(source):
    stored = document_make(source, work_item_name="Lease for Hawthorne", document_id="a")

    output = run("resync", "--work-item", "Lease for Hawthorne", "--include-stored")

    assert "Queued 1 document again." in output
    assert statuses(stored) == ["pending"]


def test_resync_by_event_takes_the_documents_of_the_versions_it_announced(source):
    event = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="evt-9")
    mine = document_make(source, version_id="v-9", document_id="a", status=Document.Status.DEAD, delivery=event)
    other = document_make(source, version_id="v-8", document_id="b", status=Document.Status.DEAD)

    run("resync", "--event", str(event.public_id))
    assert statuses(mine, other) == ["pending", "dead"]
    Document.objects.filter(pk=mine.pk).update(status=Document.Status.FAILED)
    run("resync", "--event", "evt-9")  # Advance's eventId works too
    assert statuses(mine, other) == ["pending", "dead"]


def test_resync_of_a_failed_event_replays_it(source):
    event = delivery_make(source, status=Delivery.Status.FAILED, event_id="evt-failed")

    output = run("resync", "--event", "evt-failed")

    assert "Replayed 1 failed event." in output
    assert Delivery.objects.get(pk=event.pk).status == Delivery.Status.ACCEPTED


def test_resync_by_date_range_takes_documents_recorded_in_it(source):
    now = timezone.now()
    inside = document_make(source, document_id="a", status=Document.Status.FAILED)
    before = document_make(source, document_id="b", status=Document.Status.FAILED)
    Document.objects.filter(pk=inside.pk).update(created_at=now - timedelta(days=2))
    Document.objects.filter(pk=before.pk).update(created_at=now - timedelta(days=10))
    since = (now - timedelta(days=5)).date().isoformat()

    run("resync", "--since", since, "--until", (now - timedelta(days=1)).isoformat())

    assert statuses(inside, before) == ["pending", "failed"]


def test_resync_failed_only_leaves_pending_documents_and_replays_failed_events(source):
    failed = document_make(source, document_id="a", status=Document.Status.FAILED)
    pending = document_make(source, document_id="b", status=Document.Status.PENDING)
    Document.objects.filter(pk=pending.pk).update(due_at=None)
    event = delivery_make(source, status=Delivery.Status.FAILED, event_id="evt-x")

    output = run("resync", "--failed-only")

    assert "Replayed 1 failed event. Queued 1 document again" in output
    assert statuses(failed, pending) == ["pending", "pending"]
    assert Document.objects.get(pk=pending.pk).due_at is None  # not queued again
    assert Delivery.objects.get(pk=event.pk).status == Delivery.Status.ACCEPTED


def test_resync_leaves_a_failed_events_documents_to_its_replay(source):
    event = delivery_make(source, status=Delivery.Status.FAILED, event_id="evt-broken")
    announced = document_make(source, version_id="v-7", status=Document.Status.FAILED, delivery=event)
    other = document_make(source, version_id="v-8", document_id="b", status=Document.Status.FAILED)

    output = run("resync", "--failed-only")

    # The replay records the event's version again and queues its documents itself: not twice.
    assert "Replayed 1 failed event. Queued 1 document again" in output
    assert statuses(announced, other) == ["failed", "pending"]
    assert Delivery.objects.get(pk=event.pk).status == Delivery.Status.ACCEPTED


def test_resync_dry_run_changes_nothing(source):
    failed = document_make(source, status=Document.Status.FAILED)

    assert "Would replay 0 failed events and queue 1 of 1 selected document again." in run(
        "resync", "--work-item", "wi-1", "--dry-run"
    )
    assert statuses(failed) == ["failed"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "Choose what to resync"),
        (["--work-item", "nope"], "No documents of a work item 'nope'"),
        (["--event", "nope"], "No event 'nope'"),
        (["--since", "yesterday"], "is not a date"),
        (["--failed-only", "--include-stored"], "exclude each other"),
        (["--since", "2024-02-01", "--until", "2024-01-01"], "--since must be before --until"),
    ],
)
def test_resync_refuses_unclear_requests(source, args, error):
    with pytest.raises(CommandError, match=error):
        call_command("resync", *args, stdout=io.StringIO())


def test_resync_draws_a_progress_bar_on_a_terminal(source):
    for number in range(3):
        document_make(source, document_id=f"d{number}", status=Document.Status.FAILED)
    err = io.StringIO()

    call_command("resync", "--failed-only", "--progress", stdout=io.StringIO(), stderr=err)
    assert "[" + "#" * 30 + "] 3/3 queued" in err.getvalue()

    quiet = io.StringIO()
    call_command("resync", "--work-item", "wi-1", "--include-stored", stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""  # not a TTY: no bar


def test_the_progress_bar_is_on_by_default_only_on_a_tty():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar(4, label="queued", stream=stream)
        bar.advance(2)
        bar.finish()

    assert terminal.getvalue() == "\r[###############...............] 2/4 queued\n"
    assert pipe.getvalue() == ""


# prune_deliveries --------------------------------------------------------------------------


def test_prune_deletes_old_rows_nothing_needs_and_keeps_the_rest(source):
    old = timedelta(days=40)
    rejected = delivery_make(source, status=Delivery.Status.REJECTED, event_id="r", age=old)
    unauthenticated = delivery_make(None, status=Delivery.Status.REJECTED, event_id="", age=old, http_status=401)
    processed_alone = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="p", age=old)
    announced = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="v", age=old)
    document = document_make(source, delivery=announced)
    waiting = delivery_make(source, status=Delivery.Status.ACCEPTED, event_id="w", age=old)
    failed = delivery_make(source, status=Delivery.Status.FAILED, event_id="f", age=old)
    recent = delivery_make(source, status=Delivery.Status.REJECTED, event_id="n", age=timedelta(days=2))
    original = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="o", age=old)
    new_duplicate = delivery_make(
        source, status=Delivery.Status.DUPLICATE, event_id="o", duplicate_of=original, age=timedelta(days=1)
    )
    old_duplicate = delivery_make(
        source, status=Delivery.Status.DUPLICATE, event_id="v", duplicate_of=announced, age=old
    )

    output = run("prune_deliveries", "--older-than", "30")

    assert "Deleted 4 delivery log rows received before" in output
    gone = {rejected.pk, unauthenticated.pk, processed_alone.pk, old_duplicate.pk}
    kept = {announced.pk, waiting.pk, failed.pk, recent.pk, original.pk, new_duplicate.pk}
    remaining = set(Delivery.objects.values_list("pk", flat=True))
    assert remaining == kept and not gone & remaining
    assert Document.objects.filter(pk=document.pk).exists()
    assert WorkItemVersion.objects.get(pk=document.version_id).delivery_id == announced.pk


def test_prune_in_small_batches_deletes_every_prunable_row_and_keeps_those_between_them(source):
    old = timedelta(days=40)
    prunable, kept = [], []
    for n in range(7):  # kept rows between the prunable ones, across batches of two
        prunable.append(delivery_make(source, status=Delivery.Status.REJECTED, event_id=f"r{n}", age=old).pk)
        kept.append(delivery_make(source, status=Delivery.Status.FAILED, event_id=f"f{n}", age=old).pk)

    deleted = deliveries_prune(received_before=timezone.now() - timedelta(days=30), batch_size=2)

    assert deleted == 7
    assert set(Delivery.objects.values_list("pk", flat=True)) == set(kept)


def test_prune_deletes_old_failed_events_only_when_asked(source):
    failed = delivery_make(source, status=Delivery.Status.FAILED, event_id="f", age=timedelta(days=40))

    assert "Would delete 0 delivery log rows" in run("prune_deliveries", "--older-than", "30", "--dry-run")
    assert "Would delete 1 delivery log row " in run(
        "prune_deliveries", "--older-than", "30", "--include-failed", "--dry-run"
    )
    assert Delivery.objects.filter(pk=failed.pk).exists()
    run("prune_deliveries", "--older-than", "30", "--include-failed")
    assert not Delivery.objects.filter(pk=failed.pk).exists()


def test_prune_never_deletes_documents(source):
    event = delivery_make(source, status=Delivery.Status.PROCESSED, event_id="e", age=timedelta(days=90))
    documents = [document_make(source, document_id=f"d{n}", delivery=event) for n in range(3)]

    run("prune_deliveries", "--older-than", "1", "--include-failed")

    assert Document.objects.count() == len(documents)
    assert Delivery.objects.filter(pk=event.pk).exists()


def test_prune_refuses_less_than_a_day(source):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_deliveries", "--older-than", "0", stdout=io.StringIO())

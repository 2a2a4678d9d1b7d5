"""`access_audit_export` (formats, filters, streamed) and `audit_prune` (the retention, recorded)."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit import selectors
from audit.models import AccessRecord, ChangeRecord
from tests.factories import source_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(source):
    globex = source_make("globex")
    now = timezone.now()
    AccessRecord.objects.create(username="ann", action="view", source=source, document_name="Lease", status=200)
    AccessRecord.objects.create(username="bob", action="download", source=globex, status=302, detail="presigned URL")
    AccessRecord.objects.create(
        username="ann", action="search", query="saffron", count=3, status=200, at=now - timedelta(days=3)
    )


class Writes(io.StringIO):
    """Standard output that counts the writes it got: a streamed export writes line by line."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def export(*args: str) -> Writes:
    out = Writes()
    call_command("access_audit_export", *args, stdout=out)
    return out


def test_csv_is_the_default_with_a_header_and_oldest_first(log):
    rows = list(csv.DictReader(io.StringIO(export().getvalue())))

    assert [(row["user"], row["action"]) for row in rows] == [("ann", "search"), ("ann", "view"), ("bob", "download")]
    assert rows[1]["source"] == "acme" and rows[1]["document"] == "Lease" and rows[2]["status"] == "302"


def test_jsonl_writes_one_object_per_line(log):
    lines = export("--format", "jsonl").getvalue().splitlines()

    objects = [json.loads(line) for line in lines]
    assert [item["user"] for item in objects] == ["ann", "ann", "bob"]
    assert objects[0]["query"] == "saffron" and objects[0]["count"] == 3


def test_filters_by_since_user_and_source(log):
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert [
        json.loads(line)["action"] for line in export("--format", "jsonl", "--since", since).getvalue().splitlines()
    ] == [
        "view",
        "download",
    ]
    assert [
        json.loads(line)["action"] for line in export("--format", "jsonl", "--user", "ann").getvalue().splitlines()
    ] == [
        "search",
        "view",
    ]
    assert [
        json.loads(line)["user"] for line in export("--format", "jsonl", "--source", "globex").getvalue().splitlines()
    ] == ["bob"]


def test_a_date_alone_is_its_midnight_and_a_bad_one_is_refused(log):
    assert len(export("--since", timezone.localdate().isoformat()).getvalue().splitlines()) == 3  # header + 2

    with pytest.raises(CommandError, match="--since"):
        export("--since", "yesterday")


def test_the_export_is_streamed_in_chunks_not_built_in_memory(log, monkeypatch):
    monkeypatch.setattr(selectors, "EXPORT_CHUNK_ROWS", 1)
    monkeypatch.setattr("audit.export.EXPORT_CHUNK_ROWS", 1)

    out = export()

    # A write per line (the header and three records), read from a server-side cursor in chunks.
    assert out.writes >= 4


def test_pruning_deletes_only_what_is_older_than_the_retention_and_records_itself(settings, source):
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    AccessRecord.objects.create(username="old", action="view", status=200, at=now - timedelta(days=31))
    AccessRecord.objects.create(username="young", action="view", status=200, at=now - timedelta(days=29))
    ChangeRecord.objects.create(action="changed", username="old", at=now - timedelta(days=400))
    out = io.StringIO()

    call_command("audit_prune", stdout=out)

    assert list(AccessRecord.objects.values_list("username", flat=True)) == ["young"]
    assert not ChangeRecord.objects.filter(username="old").exists()
    pruned = ChangeRecord.objects.get(action="pruned")
    assert pruned.before["access records"] == 1 and pruned.before["change records"] == 1
    assert "Deleted 1 access and 1 change records" in out.getvalue()


def test_a_dry_run_deletes_nothing(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    AccessRecord.objects.create(username="old", action="view", status=200, at=timezone.now() - timedelta(days=31))
    out = io.StringIO()

    call_command("audit_prune", "--dry-run", stdout=out)

    assert AccessRecord.objects.count() == 1 and not ChangeRecord.objects.filter(action="pruned").exists()
    assert "Would delete 1 access and 0 change records" in out.getvalue()

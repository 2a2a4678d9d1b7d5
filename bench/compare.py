"""`BENCH_ONLY=compare`: the "Compare versions" page through the real admin view (Django's test
client through the whole middleware stack, on the bench's PostgreSQL), for two versions of a
contract of about 40,000 words (100 pages): with 50 scattered edits, with every paragraph changed,
and against another text altogether; and crafted pairs, under COMPARE_MAX_CHARS, made to make
difflib slow (values repeated just under its autojunk threshold, shuffled; one line changed among
120,000 alike; spacing changed on 80,000 lines; 250,000 lines of one CJK character each), each of
which must end within the budget. The
baseline is the work item's own page, timed alike.

Which diff library: bench/compare_libraries.py (docs/performance.md has its figures).
"""

import hashlib
import os
import random
import re
import statistics
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from bench.compare_texts import contract_text, edited, everything_changed, rewritten
from documents.models import Document, DocumentText, WorkItem, WorkItemVersion

ROUNDS = int(os.environ.get("BENCH_COMPARE_ROUNDS", "40"))
CRAFTED_ROUNDS = 3


def _shuffled(seed: int) -> list[str]:
    # 100 values, each just under autojunk's 1% of 120,000: every one is searched, at every place.
    values = [f"w{n % 100:02d}" for n in range(120_000)]
    random.Random(seed).shuffle(values)
    return values


def crafted_pairs() -> dict[str, tuple[str, str]]:
    yes = ["Yes"] * 120_000
    one_changed = list(yes)
    one_changed[60_000] = "No"
    return {
        "120,000 short paragraphs of 100 values, shuffled": ("\n".join(_shuffled(1)), "\n".join(_shuffled(2))),
        "one paragraph of 120,000 words of 100 values, shuffled": (" ".join(_shuffled(1)), " ".join(_shuffled(2))),
        "'Yes' on 120,000 lines, one changed": ("\n".join(yes), "\n".join(one_changed)),
        "'a,b' against 'a, b' on 80,000 lines": ("a,b\n" * 80_000, "a, b\n" * 80_000),
        "250,000 lines of one CJK character of 6,500, random": (_cjk(1), _cjk(2)),
    }


def _cjk(seed: int) -> str:
    # Each value about 38 times a side: under autojunk's threshold, so every search looks at all.
    values = [chr(code) for code in range(0x4E00, 0x4E00 + 6_500)]
    rng = random.Random(seed)
    return "\n".join(rng.choice(values) for _ in range(250_000))


def seed_pair(source, name: str, old_text: str, new_text: str) -> WorkItem:
    work_item = WorkItem.objects.create(source=source, advance_id=f"compare-{name}", name=f"Lease ({name})")
    now = timezone.now()
    for number, text in enumerate((old_text, new_text), start=1):
        version = WorkItemVersion.objects.create(
            work_item=work_item,
            advance_id=f"v{number}",
            completed_at=now - timedelta(days=3 - number),
            created_by_login="clerk@example.com",
        )
        document = Document.objects.create(
            version=version,
            source=source,
            advance_id="contract",
            name="Lease agreement",
            status=Document.Status.STORED,
            filename="Lease agreement.docx",
            content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            size=len(text),
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            storage_key=f"advance/{source.slug}/compare-{name}/v{number}/contract/Lease agreement.docx",
        )
        DocumentText.objects.create(
            document=document, status=DocumentText.Status.EXTRACTED, text=text, config="english"
        )
    return work_item


def _timed(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def run(source) -> dict:
    # The bench collects no static files: the admin's asset URLs are made unhashed.
    plain_static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain_static):
        return _run(source)


def _run(source) -> dict:
    old = contract_text()
    new, _ = edited(old, edits=50)
    pairs = {
        "50 edits": seed_pair(source, "edits", old, new),
        "everything changed": seed_pair(source, "everything", old, everything_changed(old)),
        "another text": seed_pair(source, "another", old, rewritten()),
    }
    user = User.objects.filter(username="bench-compare").first() or User.objects.create_superuser("bench-compare")
    client = Client(SERVER_NAME="localhost", REMOTE_ADDR="127.0.0.1")
    client.force_login(user)
    figures = {"words": len(old.split()), "seconds": settings.COMPARE_SECONDS, "pages": {}}
    for name, work_item in pairs.items():
        compare = reverse("admin:documents_workitem_compare", args=[work_item.pk])
        change = reverse("admin:documents_workitem_change", args=[work_item.pk])
        _timed(client, compare), _timed(client, change)  # warm both alike
        rounds = ROUNDS if name == "50 edits" else max(ROUNDS // 4, 5)
        ours, baseline = [], []
        for _ in range(rounds):
            ours.append(_timed(client, compare))
            baseline.append(_timed(client, change))
        figures["pages"][name] = _outcome(client, compare) | {
            "p50": statistics.median(ours),
            "p95": _p95(ours),
            "max": max(ours),
            "baseline_p95": _p95(baseline),
        }
    figures["crafted"] = {}
    for number, (name, (old_text, new_text)) in enumerate(crafted_pairs().items()):
        work_item = seed_pair(source, f"crafted-{number}", old_text, new_text)
        compare = reverse("admin:documents_workitem_compare", args=[work_item.pk])
        times = [_timed(client, compare) for _ in range(CRAFTED_ROUNDS)]
        figures["crafted"][name] = _outcome(client, compare) | {"max": max(times), "p50": statistics.median(times)}
    return figures


def _outcome(client: Client, url: str) -> dict:
    html = client.get(url).content.decode()
    outcome = re.search(r'<p class="summary">([^<]*)</p>|<p class="reason">Not compared: ([^<]*)</p>', html)
    return {
        "outcome": (outcome[1] or outcome[2]) if outcome else "no outcome shown",
        "kind": "compared" if outcome and outcome[1] else "not compared",
    }

"""The dashboard's figures of `make bench-scale` (bench/scale.py's measurement) on a database seeded
already: the whole page as the superuser and as the staff user of two sources (`scale-superuser`,
`scale-staff`), p95 over BENCH_SCALE_REQUESTS requests after two, then the cards, the chart and the
failure list alone. Prints one JSON line. For A/B runs: run it from each tree against one database.

    DATABASE_URL=postgres://.../db .venv/bin/python bench/scale_dashboard.py [LABEL]
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench.scale import PLAIN_STATIC, REQUESTS, _timed_ms, p95, page_timings  # noqa: E402
from documents import selectors  # noqa: E402


def main() -> None:
    figures: dict[str, str | float] = {"label": sys.argv[1] if len(sys.argv) > 1 else ""}
    with override_settings(STORAGES=PLAIN_STATIC):
        for who in ("superuser", "staff"):
            client = Client(SERVER_NAME="localhost", REMOTE_ADDR="127.0.0.1")
            client.force_login(User.objects.get(username=f"scale-{who}"))
            figures[f"page ({who})"] = round(p95(page_timings(client, reverse("admin:index"))), 1)
    parts = {
        "cards": lambda: selectors.dashboard_figures(now=datetime.now(UTC)),
        "chart": lambda: selectors.documents_per_day(days=30),
        "failure list": lambda: selectors.documents_latest_failures(limit=10),
    }
    for part, func in parts.items():
        func()
        figures[part] = round(p95([_timed_ms(func) for _ in range(REQUESTS)]), 1)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()

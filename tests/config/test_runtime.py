"""A web process's app, loaded whole before its first request and kept out of the collector's walks."""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = """
import gc, json, sys
import config.wsgi
print(json.dumps({"frozen": gc.get_freeze_count(), "urls": "config.urls" in sys.modules}))
"""


def test_the_wsgi_application_loads_its_urls_and_freezes_what_it_loaded():
    # A process of its own, as gunicorn's worker imports config.wsgi.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=BASE_DIR, env=os.environ.copy(), capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # The URLconf (and with it the admin's registrations) loaded, and tens of thousands of objects frozen.
    assert found["urls"] is True and found["frozen"] > 20_000

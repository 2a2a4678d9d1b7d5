"""config/settings: importing a settings module has no side effects.

Each test imports one module in a fresh Python (as Django does, through its lazy settings), with
an empty VAR_DIR and an audit hook that records every file or directory the import creates,
anywhere on disk. The embedded run's files are made at process start (config/embedded.py).
"""

import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deployment import embedded_env
from tests.support.processes import BASE_DIR

IMPORTER = """
import json, os, sys
created = []
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def record(event, args):
    if event == "open" and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if flags & WRITING or set(mode) & set("wax+"):
            created.append([event, str(args[0])])
    elif event in {"os.mkdir", "os.link", "os.symlink", "os.rename", "os.replace", "tempfile.mkstemp",
                   "tempfile.mkdtemp", "shutil.copyfile", "shutil.move"}:
        created.append([event, str(args[0])])
sys.addaudithook(record)
from django.conf import settings
settings.INSTALLED_APPS  # loads the module named by DJANGO_SETTINGS_MODULE
print(json.dumps(created))
"""


def import_settings(module: str, var_dir: Path, **env: str) -> list[list[str]]:
    environment = embedded_env(var_dir, DJANGO_SETTINGS_MODULE=module, PYTHONDONTWRITEBYTECODE="1", **env)
    result = subprocess.run(
        [sys.executable, "-c", IMPORTER],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def production_keys() -> dict[str, str]:
    """What production settings refuse to start without (the services are only named, never reached)."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": "postgres://sync@db.invalid:5432/sync",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "AWS_STORAGE_BUCKET_NAME": "documents",
        "METRICS_TOKEN": secrets.token_urlsafe(32),
    }


@pytest.mark.parametrize(
    ("module", "keys"),
    [
        # The embedded run's settings, given nothing: the key files are not made by importing them.
        ("config.settings.base", {}),
        ("config.settings.test", {}),
        ("config.settings.production", production_keys()),
        ("config.settings.bench", production_keys()),
    ],
)
def test_importing_a_settings_module_creates_nothing_on_disk(tmp_path, module, keys):
    var_dir = tmp_path / "var"
    var_dir.mkdir()

    created = import_settings(module, var_dir, **keys)

    assert created == []
    assert list(var_dir.iterdir()) == []

"""The keys in config/settings: the secret key generated into var/, and the keys of secrets at rest.

Every test runs Python in subprocesses with the settings as users start them (`make run`'s
embedded defaults, or production), so nothing of this test process's settings leaks in.
"""

import base64
import hashlib
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from tests.support.deployment import (
    compose_config_without,
    embedded_env,
    manage,
    production_env,
)
from tests.support.processes import BASE_DIR

# What manage.py does before anything else: the embedded run's keys, then Django.
PREPARED = "from config.embedded import embedded_prepare; embedded_prepare()\nimport django; django.setup()\n"


def python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PREPARED + code],
        cwd=BASE_DIR,
        env={"DJANGO_SETTINGS_MODULE": "config.settings.base", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def encrypt(env: dict[str, str]) -> str:
    return python("from sources.crypto import secret_encrypt; print(secret_encrypt('advance password'))", env)


def decrypt(ciphertext: str, env: dict[str, str]) -> str:
    return python(f"from sources.crypto import secret_decrypt; print(secret_decrypt({ciphertext!r}))", env)


# var/secret_key ----------------------------------------------------------------------------------

# Waits at a barrier (a file appearing), then starts as every process does (embedded_prepare, then
# the settings). Started with a third argument, it is the process that loses the CPU at the worst
# moment: once it has created a file in VAR_DIR, it stops for a while at its next open of a file
# descriptor (the fdopen before the key is written) and says so by creating the file named by that
# argument.
STARTER = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
from config.embedded import embedded_prepare  # imported before the barrier: all start together
var_dir = os.environ["VAR_DIR"]
state = {"armed": False, "paused": False}
def stall(event, args):
    if event != "open" or state["paused"]:
        return
    if isinstance(args[0], str) and args[0].startswith(var_dir) and args[2] and args[2] & os.O_CREAT:
        state["armed"] = True
    elif isinstance(args[0], int) and state["armed"]:
        state["paused"] = True
        open(sys.argv[2], "w").close()
        time.sleep(3)
if len(sys.argv) > 2:
    sys.addaudithook(stall)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.0005)
embedded_prepare()
from django.conf import settings
print(repr(settings.SECRET_KEY))
"""


def starter(*args: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", STARTER, *map(str, args)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_processes_starting_at_once_all_read_the_same_non_empty_key(tmp_path):
    var_dir, go_first, go, paused = tmp_path / "var", tmp_path / "go-first", tmp_path / "go", tmp_path / "paused"
    env = embedded_env(var_dir)
    first = starter(go_first, paused, env=env)
    others = [starter(go, env=env) for _ in range(6)]
    time.sleep(1)  # every process waits at its barrier
    go_first.touch()
    deadline = time.monotonic() + 60
    while not paused.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # the others start while the first is stopped in the middle of making the key
    outputs = [process.communicate(timeout=120) for process in [first, *others]]

    assert paused.exists(), outputs[0]
    assert all(process.returncode == 0 for process in [first, *others]), [err for _, err in outputs]
    read = {out.strip() for out, _ in outputs}
    assert len(read) == 1, read
    key = eval(read.pop())  # noqa: S307 - the repr printed above
    assert len(key) >= 50
    assert (var_dir / "secret_key").read_text().strip() == key
    assert not [path.name for path in var_dir.iterdir() if path.name.startswith(".")], "temporary file left"


# Keys of secrets at rest -------------------------------------------------------------------------


def test_production_refuses_to_start_without_field_encryption_keys(tmp_path):
    env = production_env(tmp_path)
    env.pop("FIELD_ENCRYPTION_KEYS", None)

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_compose_refuses_to_run_without_field_encryption_keys(tmp_path):
    result = compose_config_without(tmp_path, "FIELD_ENCRYPTION_KEYS")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_production_refuses_a_field_encryption_key_that_is_not_a_fernet_key(tmp_path):
    result = manage("check", env=production_env(tmp_path, FIELD_ENCRYPTION_KEYS="not-a-key"))

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
    assert "not-a-key" not in result.stderr  # a key, even a wrong one, is not echoed into logs


def test_embedded_secrets_stay_readable_when_the_secret_key_changes(tmp_path):
    var_dir = tmp_path / "var"
    ciphertext = encrypt(embedded_env(var_dir, DJANGO_SECRET_KEY="first-" + "k" * 50))

    plaintext = decrypt(ciphertext, embedded_env(var_dir, DJANGO_SECRET_KEY="second-" + "k" * 50))

    assert plaintext == "advance password"
    assert len((var_dir / "field_encryption_keys").read_text().split()) == 1  # a new var/: no derived key


def test_an_existing_embedded_install_keeps_reading_what_its_derived_key_encrypted(tmp_path):
    # An install from before field keys were generated: var/ holds a secret key and the database,
    # whose secrets were encrypted with the key derived from that secret key.
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    (var_dir / "secret_key").write_text("old-install-secret-key-" + "s" * 40)
    (var_dir / "db.sqlite3").touch()
    derived = hashlib.sha256(b"advance-sync:fields:" + (var_dir / "secret_key").read_text().encode()).digest()
    old_ciphertext = Fernet(base64.urlsafe_b64encode(derived)).encrypt(b"advance password").decode()

    after_upgrade = decrypt(old_ciphertext, embedded_env(var_dir))
    after_new_secret_key = decrypt(old_ciphertext, embedded_env(var_dir, DJANGO_SECRET_KEY="rotated-" + "r" * 50))
    new_ciphertext = encrypt(embedded_env(var_dir))

    assert after_upgrade == after_new_secret_key == "advance password"
    first_key = (var_dir / "field_encryption_keys").read_text().split()[0]
    assert Fernet(first_key.encode()).decrypt(new_ciphertext.encode()) == b"advance password"

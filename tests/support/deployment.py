"""The deployment files as users run them: docker-compose with .env.example, manage.py under the
production settings, each in a subprocess with an environment of its own."""

import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import BASE_DIR
from tests.support.required import service_missing

COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
# What switches the embedded defaults off, or would hand a key in from outside.
OUTSIDE = (
    "DATABASE_URL",
    "REDIS_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
)
ENV_EXAMPLE = BASE_DIR / ".env.example"


def env_example() -> dict[str, str]:
    """The variables .env.example sets (commented-out lines excluded)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, separator, value = line.partition("=")
        if separator and not line.lstrip().startswith("#"):
            values[name.strip()] = value
    return values


def compose_variables() -> set[str]:
    """The names docker-compose.yml interpolates with ${...}."""
    lines = [line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", "\n".join(lines)))


def docker_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        service_missing("docker-compose (Debian's package)")
    # Only the env file may supply the compose variables, not whatever this shell exports
    # (`make test` exports AWS_* and REDIS_URL for its own services).
    env = {key: value for key, value in os.environ.items() if key not in compose_variables()}
    env = {key: value for key, value in env.items() if not key.startswith("COMPOSE_")}
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def compose_config_without(tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    """`docker-compose config` with .env.example less one variable."""
    values = env_example()
    del values[name]
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return docker_compose("config", "-q", env_file=env_file)


def embedded_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without what would switch the embedded defaults off."""
    env = {key: value for key, value in os.environ.items() if key not in OUTSIDE}
    env.update(VAR_DIR=str(var_dir), **overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """This process's environment with production settings and none of their knobs turned."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_SECURE_", "DJANGO_CSRF_", "DJANGO_USE_X_"))
        and key not in {"DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DJANGO_ALLOWED_HOSTS="sync.example.com",
        VAR_DIR=str(tmp_path / "var"),
    )
    env.update(overrides)
    return env

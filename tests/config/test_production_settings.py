"""Production settings refuse to run half-configured: without the services that keep accepted events
and documents (DATABASE_URL, REDIS_URL, AWS_STORAGE_BUCKET_NAME, unless documents on local disk
are asked for), and without a way to keep /metrics and /readyz/queues private (METRICS_TOKEN, or
the networks listed in METRICS_ALLOWED_NETWORKS).

Each test starts Python in a subprocess with production settings, as the image does, so nothing
of this test process's settings leaks in.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.support.deployment import compose_config_without, manage, production_env
from tests.support.processes import BASE_DIR

SERVICES = {
    "DATABASE_URL": "postgres://sync:password@db.internal:5432/sync",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "AWS_STORAGE_BUCKET_NAME": "documents-bucket",
}
METRICS_TOKEN = "scrape-token-for-the-tests-0123456789"

# What a process under these settings runs on: nothing is connected to by importing them.
RUNS_ON = """
import json
from django.conf import settings
print(json.dumps({
    "database": settings.DATABASES["default"]["ENGINE"],
    "broker": settings.CELERY_BROKER_URL,
    "documents": settings.STORAGES["default"]["BACKEND"],
    "location": settings.STORAGES["default"]["OPTIONS"].get("location"),
}))
"""

# The real views, asked from one address with the production settings' middleware.
ASKED_FROM = """
import sys, django; django.setup()
from django.test import Client
client = Client()
for address in sys.argv[1:]:
    forwarded = address.endswith("+proxy")
    address = address.removesuffix("+proxy")
    headers = {"X-Forwarded-For": "203.0.113.9"} if forwarded else {}
    metrics = client.get("/metrics", REMOTE_ADDR=address, headers=headers).status_code
    queues = client.get("/readyz/queues", REMOTE_ADDR=address, headers=headers).status_code
    print(address, forwarded, metrics, queues if queues in (401, 403) else "served")
"""


def environment(tmp_path, **overrides: str) -> dict[str, str]:
    """Production settings with every service and a metrics token set (overrides win; None unsets)."""
    env = production_env(tmp_path, **SERVICES, METRICS_TOKEN=METRICS_TOKEN)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # this process's counters only, not the suite's files
    env.pop("METRICS_ALLOWED_NETWORKS", None)
    env.pop("ALLOW_LOCAL_DOCUMENT_STORAGE", None)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def python(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def runs_on(env: dict[str, str]) -> dict:
    result = python("import django; django.setup()\n" + RUNS_ON, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# The services ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_production_refuses_to_start_without_each_service(tmp_path, name):
    result = manage("check", env=environment(tmp_path, **{name: None}))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name} must be set with production settings" in result.stderr
    assert not (tmp_path / "var").exists()  # nothing was made on local disk instead


def test_production_names_every_missing_service_at_once(tmp_path):
    result = manage("check", env=environment(tmp_path, DATABASE_URL=None, REDIS_URL=" ", AWS_STORAGE_BUCKET_NAME=""))

    assert result.returncode != 0
    assert all(f"{name} must be set" in result.stderr for name in SERVICES)


def test_production_with_every_service_set_runs_on_them(tmp_path):
    runs = runs_on(environment(tmp_path))

    assert runs["database"] == "django.db.backends.postgresql"
    assert runs["broker"] == SERVICES["REDIS_URL"]
    assert runs["documents"] == "storages.backends.s3.S3Storage"


def test_production_keeps_documents_on_local_disk_only_when_told(tmp_path):
    refused = manage("check", env=environment(tmp_path, AWS_STORAGE_BUCKET_NAME=None, ALLOW_LOCAL_DOCUMENT_STORAGE="0"))
    runs = runs_on(environment(tmp_path, AWS_STORAGE_BUCKET_NAME=None, ALLOW_LOCAL_DOCUMENT_STORAGE="1"))

    assert refused.returncode != 0 and "AWS_STORAGE_BUCKET_NAME" in refused.stderr
    assert runs["documents"] == "django.core.files.storage.FileSystemStorage"
    assert runs["location"] == str(tmp_path / "var" / "media")
    # Only document storage: the database and the broker are still the services named.
    assert runs["database"] == "django.db.backends.postgresql"


# /metrics and /readyz/queues ---------------------------------------------------------------------


def test_production_refuses_to_start_without_a_metrics_token_or_allowed_networks(tmp_path):
    result = manage("check", env=environment(tmp_path, METRICS_TOKEN=None))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "METRICS_TOKEN must be set with production settings" in result.stderr
    assert "METRICS_ALLOWED_NETWORKS" in result.stderr


def test_production_with_allowed_networks_serves_only_addresses_inside_them(tmp_path):
    env = environment(
        tmp_path,
        **{name: os.environ[name] for name in SERVICES},  # the suite's real ones: the views use them
        METRICS_TOKEN=None,
        METRICS_ALLOWED_NETWORKS="10.20.0.0/16, 192.0.2.7",
        DJANGO_ALLOWED_HOSTS="testserver",
    )

    result = python(
        ASKED_FROM, "10.20.3.4", "192.0.2.7", "10.99.0.1", "172.17.0.1", "127.0.0.1", "10.20.3.4+proxy", env=env
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "10.20.3.4 False 200 served",
        "192.0.2.7 False 200 served",
        # Private addresses (Docker's NAT, a proxy) outside the list are refused, and so is loopback.
        "10.99.0.1 False 403 403",
        "172.17.0.1 False 403 403",
        "127.0.0.1 False 403 403",
        # A proxy's forwarding header: whoever is behind it is not the listed address.
        "10.20.3.4 True 403 403",
    ]


def test_a_malformed_allowed_network_is_refused_naming_the_variable(tmp_path):
    result = manage("check", env=environment(tmp_path, METRICS_ALLOWED_NETWORKS="10.20.0.0/16,intranet"))

    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS" in result.stderr and "'intranet'" in result.stderr


def test_compose_refuses_to_run_without_a_metrics_token(tmp_path):
    result = compose_config_without(tmp_path, "METRICS_TOKEN")

    assert result.returncode != 0
    assert "METRICS_TOKEN" in result.stderr

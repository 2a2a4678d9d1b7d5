"""The deployment files: docker-compose.yml with .env.example, and the production settings.

Each test runs the real tool (docker-compose, manage.py) in a subprocess, so that nothing of
this test process's settings leaks into what is checked. No database is needed.
"""

import re
import subprocess
import sys

import yaml

from tests.support.deployment import (
    BASE_DIR,
    ENV_EXAMPLE,
    compose_config_without,
    compose_variables,
    docker_compose,
    env_example,
    manage,
    production_env,
)

CONTRACT_VARIABLES = {
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_REGION_NAME",
    "DOCUMENTS_KEY_PREFIX",
}
PRODUCTION_VARIABLES = {
    "DJANGO_SECURE_PROXY_SSL_HEADER",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DJANGO_USE_X_FORWARDED_HOST",
    "FIELD_ENCRYPTION_KEYS",
    "METRICS_TOKEN",
    "METRICS_ALLOWED_NETWORKS",
    "ALLOW_LOCAL_DOCUMENT_STORAGE",
}
# Production settings refuse to start without one of METRICS_TOKEN and METRICS_ALLOWED_NETWORKS.
METRICS_TOKEN = "deployment-test-metrics-token"
APP_SERVICES = ("migrate", "web", "worker", "worker-intake", "beat")

# .env.example ----------------------------------------------------------------------------------


def test_env_example_documents_every_contract_and_production_variable():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))

    assert documented >= CONTRACT_VARIABLES | PRODUCTION_VARIABLES


def test_env_example_sets_every_variable_the_compose_file_reads():
    assert compose_variables() - set(env_example()) == set()


# docker-compose.yml ----------------------------------------------------------------------------


def test_compose_file_is_valid_with_the_example_environment():
    result = docker_compose("config", "-q")

    assert result.returncode == 0, result.stderr


def test_compose_defines_the_stack_and_runs_the_app_from_one_image():
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]

    assert set(services) == {"postgres", "redis", "minio", "minio-init", *APP_SERVICES}
    web = services["web"]
    assert web["image"] and web["build"]
    for name in APP_SERVICES:
        assert (services[name]["image"], services[name]["build"]) == (web["image"], web["build"]), name
        assert services[name]["environment"] == web["environment"], name
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert web["environment"]["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_refuses_to_run_without_a_secret_key(tmp_path):
    result = compose_config_without(tmp_path, "DJANGO_SECRET_KEY")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


# Production settings ---------------------------------------------------------------------------


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path, METRICS_TOKEN=METRICS_TOKEN)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_load_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_settings_refuse_debug(tmp_path):
    result = manage("check", env=production_env(tmp_path, DJANGO_DEBUG="1"))

    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_production_redirects_plain_http_to_https_except_the_probes(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "client = Client()\n"
        "admin = client.get('/admin/')\n"
        "proxied = client.get('/healthz', headers={'X-Forwarded-Proto': 'https'})\n"
        "print(client.get('/healthz').status_code, admin.status_code, admin['Location'],\n"
        "      proxied.status_code, proxied['Strict-Transport-Security'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=production_env(tmp_path, DJANGO_ALLOWED_HOSTS="testserver", METRICS_TOKEN=METRICS_TOKEN),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "200",
        "301",
        "https://testserver/admin/",
        "200",
        "max-age=31536000;",
        "includeSubDomains",
    ]

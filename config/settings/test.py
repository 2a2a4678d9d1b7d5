"""Settings for pytest: the real services started by `make test`, plus what makes tests quick."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# S3's smallest part, so that tests of a few MiB already take the multipart path.
DOCUMENT_UPLOAD_PART_SIZE = 5 * 1024 * 1024
DOCUMENT_DOWNLOAD_CHUNK_BYTES = 64 * 1024
ADVANCE_READ_TIMEOUT = 10

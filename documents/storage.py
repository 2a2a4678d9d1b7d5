"""Document storage: streams chunks into the configured storage, hashing on the way.

S3 object metadata is fixed when an upload starts, and the sha256 is known only once the last
byte has passed. So for S3 the download streams into a spool file (in DOCUMENT_SPOOL_DIR; never
the whole document in memory, unless it is at most SPOOL_MEMORY_BYTES: that one goes up from
memory), then one multipart upload writes the object with its content type and
sha256, visible at once complete. That beats uploading while
downloading and then copying the object onto itself to add the metadata: the copy rewrites every
byte in the S3 server (measured 4x slower than the upload itself against moto_server). The
filesystem gets the chunks directly at the same key.
"""

import hashlib
import mimetypes
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from pathlib import Path
from urllib.parse import unquote

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from storages.backends.s3 import S3Storage
from storages.utils import clean_name, safe_join

from core.errors import PermanentError, RetryableError
from core.http import media_type_of

# Extensions for the content types Advance serves, where mimetypes' answer is not the usual one.
EXTENSIONS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "application/rtf": ".rtf",
    "text/html": ".html",
}
FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^;]+)", re.IGNORECASE)
SPOOL_COPY_BYTES = 1024 * 1024
# A document up to this size is uploaded from memory, without a spool file (see _s3_save).
SPOOL_MEMORY_BYTES = 512 * 1024
UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9 ._-]+")
MAX_FILENAME_LENGTH = 200


class DocumentTooLarge(PermanentError):
    """The document is over DOCUMENT_MAX_BYTES: it fails for good."""


class StorageUnavailable(RetryableError):
    pass


class ObjectLockUnavailable(PermanentError):
    """An object was to be written locked where storage cannot lock: the filesystem, or a bucket
    without Object Lock. Nothing is stored: a document written unlocked would not be the record asked for."""


@dataclass(frozen=True)
class ObjectLock:
    """What S3 Object Lock an object is written with: a retention (mode and date), a legal hold, or both."""

    mode: str = ""  # "GOVERNANCE" or "COMPLIANCE" (S3's spelling); empty: no retention
    retain_until: datetime | None = None
    legal_hold: bool = False

    def upload_args(self) -> dict:
        """The arguments of put_object and of a multipart upload's creation that ask for this lock."""
        args: dict = {}
        if self.mode:
            args["ObjectLockMode"] = self.mode
            args["ObjectLockRetainUntilDate"] = self.retain_until
        if self.legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        return args


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    version_id: str = ""  # S3's, when the bucket is versioned (as Object Lock makes it) and said it


def document_storage():
    return storages["default"]


def filename_from_disposition(header: str) -> str:
    """The file name of a Content-Disposition header (filename* preferred), or ''."""
    if not header:
        return ""
    # RFC 6266: filename* (RFC 5987, any charset) wins over the plain, often ASCII-only, filename.
    extended = FILENAME_STAR.search(header)
    if extended:
        charset, _, encoded = extended.group(1).strip().strip('"').partition("'")
        encoded = encoded.partition("'")[2]
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset
            pass
    message = Message()
    message["Content-Disposition"] = header
    return message.get_filename() or ""


def filename_sanitize(name: str) -> str:
    """Letters, digits, space, '.', '_' and '-' only; no leading dots; never empty."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = ascii_name.replace("/", "_").replace("\\", "_")
    cleaned = UNSAFE_FILENAME_CHARACTERS.sub("", ascii_name).strip(" .")
    cleaned = re.sub(r"\s+", " ", cleaned)
    if len(cleaned) > MAX_FILENAME_LENGTH:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and len(extension) <= 10:
            cleaned = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            cleaned = cleaned[:MAX_FILENAME_LENGTH]
    return cleaned or "document"


def extension_for(content_type: str) -> str:
    media_type = media_type_of(content_type)
    return EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ""


def document_filename(*, content_disposition: str, name: str, content_type: str) -> str:
    """Content-Disposition's file name, else the document's name plus its content type's extension."""
    from_header = filename_from_disposition(content_disposition)
    if from_header:
        return filename_sanitize(from_header)
    return filename_sanitize(f"{name or 'document'}{extension_for(content_type)}")


class HashingReader:
    """A read()-able view of a chunk iterator that hashes, counts and caps the bytes read."""

    def __init__(self, chunks: Iterable[bytes], *, max_bytes: int):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._max_bytes = max_bytes
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _pull(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise DocumentTooLarge(f"the document is larger than the limit of {self._max_bytes} bytes")
        self._hash.update(chunk)
        self._buffer += chunk
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            while self._pull():
                pass
        else:
            while len(self._buffer) < size and self._pull():
                pass
            size = min(size, len(self._buffer))
        data = bytes(self._buffer[:size] if size >= 0 else self._buffer)
        del self._buffer[: len(data)]
        return data


def object_save_stream(
    *, key: str, chunks: Iterable[bytes], content_type: str, lock: ObjectLock | None = None
) -> StoredObject:
    """Write the chunks at key (overwriting), with the content type and sha256; never all in memory.

    With a lock, S3 is asked to write the object locked (documents.object_lock checks what it
    reported); storage that cannot lock raises ObjectLockUnavailable before anything is written.
    """
    reader = HashingReader(chunks, max_bytes=settings.DOCUMENT_MAX_BYTES)
    storage = document_storage()
    version_id = ""
    if isinstance(storage, S3Storage):
        version_id = _s3_save(storage, key, reader, content_type, lock)
    elif lock is not None:
        raise ObjectLockUnavailable(f"the documents' storage ({type(storage).__name__}) cannot lock objects")
    elif isinstance(storage, FileSystemStorage):
        _filesystem_save(storage, key, reader)
    else:
        saved_as = storage.save(key, File(reader, name=key))
        if saved_as != key:  # the key is the contract's; a renamed file would be a second object
            storage.delete(saved_as)
            raise RuntimeError(f"storage saved {key!r} as {saved_as!r}")
    return StoredObject(key=key, size=reader.size, sha256=reader.sha256, version_id=version_id)


def _filesystem_save(storage: FileSystemStorage, key: str, reader: HashingReader) -> None:
    """Write beside the final path, then rename: a failed download never truncates a stored file."""
    final = Path(storage.path(key))
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=final.parent, prefix=".incoming-", delete=False) as incoming:
        try:
            shutil.copyfileobj(reader, incoming, SPOOL_COPY_BYTES)
            incoming.flush()
            os.fsync(incoming.fileno())
        except BaseException:
            os.unlink(incoming.name)
            raise
    os.chmod(incoming.name, storage.file_permissions_mode or 0o644)
    os.replace(incoming.name, final)


def _transfer_config() -> TransferConfig:
    part_size = settings.DOCUMENT_UPLOAD_PART_SIZE
    return TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=settings.DOCUMENT_UPLOAD_CONCURRENCY,
    )


_s3_clients: "weakref.WeakKeyDictionary[S3Storage, object]" = weakref.WeakKeyDictionary()
_s3_clients_lock = threading.Lock()


def s3_client(storage: S3Storage):
    """One S3 client per process and storage, shared by the worker's threads.

    django-storages makes a boto3 session and resource per thread, about 13 MiB each: a pool of 16
    threads would pay it 16 times. boto3 clients are thread-safe; its connection pool is sized
    for every thread's upload at once.
    """
    with _s3_clients_lock:
        client = _s3_clients.get(storage)
        if client is None:
            pool = max(10, settings.CELERY_WORKER_CONCURRENCY * settings.DOCUMENT_UPLOAD_CONCURRENCY)
            # The session as django-storages makes it, from the storage's public settings: a profile
            # wins over keys, and with neither boto3's own chain (environment, instance role) applies.
            if storage.session_profile:
                session = boto3.Session(profile_name=storage.session_profile)
            else:
                session = boto3.Session(
                    aws_access_key_id=storage.access_key,
                    aws_secret_access_key=storage.secret_key,
                    aws_session_token=storage.security_token,
                )
            client = session.client(
                "s3",
                region_name=storage.region_name,
                use_ssl=storage.use_ssl,
                endpoint_url=storage.endpoint_url,
                config=storage.client_config.merge(Config(max_pool_connections=pool)),
                verify=storage.verify,
            )
            _s3_clients[storage] = client
    return client


def s3_object_key(storage: S3Storage, key: str) -> str:
    """The S3 key of a storage name: under the storage's location (AWS_LOCATION), never above it."""
    try:
        return safe_join(storage.location, clean_name(key))
    except ValueError:
        raise SuspiciousOperation(f"Attempted access to {key!r} denied.") from None


def _s3_save(storage: S3Storage, key: str, reader: HashingReader, content_type: str, lock: ObjectLock | None) -> str:
    """Upload; return the version id S3 gave the object ('' when it said none: a multipart upload)."""
    client = s3_client(storage)
    object_key = s3_object_key(storage, key)
    lock_args = lock.upload_args() if lock else {}
    try:
        # A small document (most of Advance's) goes up from memory: no spool file to create,
        # write, read back and delete. At most SPOOL_MEMORY_BYTES per download, less than the
        # download chunk that a larger one holds on its way to the spool anyway.
        head = reader.read(SPOOL_MEMORY_BYTES + 1)
        if len(head) <= SPOOL_MEMORY_BYTES:
            extra = {
                "ContentType": content_type or "application/octet-stream",
                "Metadata": {"sha256": reader.sha256},
                **lock_args,
            }
            return client.put_object(Bucket=storage.bucket_name, Key=object_key, Body=head, **extra).get(
                "VersionId", ""
            )
        with tempfile.NamedTemporaryFile(prefix="document-", dir=spool_dir()) as spool:
            # The download is hashed on its way into the spool, so the one upload carries its sha256.
            spool.write(head)
            del head
            shutil.copyfileobj(reader, spool, SPOOL_COPY_BYTES)
            spool.flush()
            extra = {
                "ContentType": content_type or "application/octet-stream",
                "Metadata": {"sha256": reader.sha256},
                **lock_args,
            }
            if reader.size < settings.DOCUMENT_UPLOAD_PART_SIZE:
                # One request, read from the file: a transfer manager (and its threads) per small
                # document cost more CPU than the upload itself in a burst of many.
                spool.seek(0)
                response = client.put_object(Bucket=storage.bucket_name, Key=object_key, Body=spool, **extra)
                return response.get("VersionId", "")
            # By file name, s3transfer reads each part from the file as it sends it: no part
            # sits in memory, whatever the concurrency. The lock goes on the multipart upload's creation.
            client.upload_file(spool.name, storage.bucket_name, object_key, ExtraArgs=extra, Config=_transfer_config())
            return ""
    except ClientError as error:
        if lock_args and error.response.get("Error", {}).get("Code") == "InvalidRequest":
            # S3's answer to lock headers for a bucket created without Object Lock.
            raise ObjectLockUnavailable(f"the bucket refused to lock the object: {error}") from None
        raise StorageUnavailable(f"storage failed: {type(error).__name__}: {error}") from None
    except (BotoCoreError, S3UploadFailedError) as error:
        raise StorageUnavailable(f"storage failed: {type(error).__name__}: {error}") from None


def spool_dir() -> Path:
    path = Path(settings.DOCUMENT_SPOOL_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def spool_prune() -> int:
    """Delete spool files left by workers killed mid-sync; return how many.

    A file older than the sync task's hard time limit cannot belong to a task still running.
    """
    cutoff = time.time() - (settings.DOCUMENT_SYNC_TIME_LIMIT + 120)
    removed = 0
    for path in spool_dir().glob("document-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # its task finished meanwhile
            continue
    return removed


def object_download_url(*, key: str, filename: str, inline_as: str | None = None) -> str | None:
    """A short-lived URL of the stored object on S3 (a download, or with inline_as a content type
    to display it as); None where the storage has none (filesystem)."""
    storage = document_storage()
    if not isinstance(storage, S3Storage):
        return None
    parameters = {"ResponseContentDisposition": f'{"inline" if inline_as else "attachment"}; filename="{filename}"'}
    if inline_as:
        parameters["ResponseContentType"] = inline_as
    return storage.url(key, parameters=parameters)


def object_open(*, key: str):
    return document_storage().open(key, "rb")


def storage_check() -> None:
    """Raises unless the documents' storage answers: the bucket exists, or the folder is writable."""
    storage = document_storage()
    if hasattr(storage, "bucket"):
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
    else:
        location = Path(storage.location)
        location.mkdir(parents=True, exist_ok=True)
        if not os.access(location, os.W_OK):
            raise PermissionError(f"{location} is not writable")

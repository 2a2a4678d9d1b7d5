"""S3 Object Lock of stored objects: whether the bucket can lock, what an object reports, a legal
hold put on or lifted, an object's bytes hashed again.

Every call names the object's version when it is known: with Object Lock the bucket is versioned,
and a lock belongs to one version, not to the key.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from storages.backends.s3 import S3Storage

from core.errors import PermanentError

from .storage import (
    SPOOL_COPY_BYTES,
    ObjectLock,
    ObjectLockUnavailable,
    StorageUnavailable,
    document_storage,
    s3_client,
    s3_object_key,
)


class RetentionNotReported(PermanentError):
    """The object was written but does not report the lock it was written with: not a stored document."""


@dataclass(frozen=True)
class LockReport:
    """What a stored object version says of its lock (head_object)."""

    version_id: str
    mode: str  # "GOVERNANCE", "COMPLIANCE" or ""
    retain_until: datetime | None
    legal_hold: bool

    def retained_as(self, lock: ObjectLock) -> bool:
        """Whether the object is retained at least as asked: the same mode, no earlier date."""
        if not lock.mode:
            return True
        return self.mode == lock.mode and self.retain_until is not None and self.retain_until >= lock.retain_until

    def satisfies(self, lock: ObjectLock) -> bool:
        """Whether the object is locked at least as asked: its retention, and the legal hold if asked."""
        return self.retained_as(lock) and (self.legal_hold or not lock.legal_hold)


def storage_lock_refusal() -> str | None:
    """Why the documents' storage cannot lock objects, or None when it can (a bucket with Object Lock).

    Raises StorageUnavailable when the bucket does not answer: that is no answer either way.
    """
    storage = document_storage()
    if not isinstance(storage, S3Storage):
        return (
            "Documents are stored on the local filesystem (no AWS_STORAGE_BUCKET_NAME), which cannot lock "
            "objects: retention and legal holds need an S3 bucket with Object Lock."
        )
    try:
        answer = s3_client(storage).get_object_lock_configuration(Bucket=storage.bucket_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
            answer = {}
        else:
            raise StorageUnavailable(f"the bucket's Object Lock could not be read: {error}") from None
    except BotoCoreError as error:
        raise StorageUnavailable(f"the bucket's Object Lock could not be read: {error}") from None
    if answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        return (
            f"The bucket {storage.bucket_name!r} has no Object Lock: S3 turns it on only when a bucket is created "
            "(aws s3api create-bucket --object-lock-enabled-for-bucket, mc mb --with-lock). "
            "Create a bucket with it and move the documents there."
        )
    return None


def _s3() -> tuple[S3Storage, object]:
    storage = document_storage()
    if not isinstance(storage, S3Storage):
        raise ObjectLockUnavailable(f"the documents' storage ({type(storage).__name__}) cannot lock objects")
    return storage, s3_client(storage)


def _version(version_id: str) -> dict:
    return {"VersionId": version_id} if version_id else {}


def object_lock_read(*, key: str, version_id: str = "") -> LockReport:
    """The lock the object's version (the latest without one) reports."""
    storage, client = _s3()
    try:
        head = client.head_object(Bucket=storage.bucket_name, Key=s3_object_key(storage, key), **_version(version_id))
    except (BotoCoreError, ClientError) as error:
        raise StorageUnavailable(f"the stored object could not be read: {type(error).__name__}: {error}") from None
    return LockReport(
        version_id=head.get("VersionId") or version_id,
        mode=head.get("ObjectLockMode") or "",
        retain_until=head.get("ObjectLockRetainUntilDate"),
        legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
    )


def object_lock_verify(*, key: str, version_id: str, lock: ObjectLock) -> LockReport:
    """Check that the object just written reports the lock asked for; return what it reports.

    A server that wrote the object but not its lock (moto does so for multipart uploads) has the
    lock put on that very version, then is asked again. An object that still does not report it
    raises RetentionNotReported: the attempt failed, the document is not stored.
    """
    report = object_lock_read(key=key, version_id=version_id)
    if report.satisfies(lock):
        return report
    storage, client = _s3()
    object_key, version = s3_object_key(storage, key), _version(report.version_id)
    try:
        if not report.retained_as(lock):
            client.put_object_retention(
                Bucket=storage.bucket_name,
                Key=object_key,
                Retention={"Mode": lock.mode, "RetainUntilDate": lock.retain_until},
                **version,
            )
        if lock.legal_hold and not report.legal_hold:
            client.put_object_legal_hold(
                Bucket=storage.bucket_name, Key=object_key, LegalHold={"Status": "ON"}, **version
            )
    except ClientError as error:
        raise RetentionNotReported(f"the stored object does not report its lock, and refused it: {error}") from None
    except BotoCoreError as error:
        raise StorageUnavailable(f"storage failed: {type(error).__name__}: {error}") from None
    report = object_lock_read(key=key, version_id=report.version_id)
    if not report.satisfies(lock):
        raise RetentionNotReported(
            f"the stored object reports mode={report.mode or 'none'} until={report.retain_until} "
            f"legal_hold={report.legal_hold}, not the lock it was written with"
        )
    return report


def object_legal_hold_set(*, key: str, version_id: str, on: bool) -> None:
    """Put a legal hold on the object's version, or lift it. Raises StorageUnavailable when S3 refuses."""
    storage, client = _s3()
    try:
        client.put_object_legal_hold(
            Bucket=storage.bucket_name,
            Key=s3_object_key(storage, key),
            LegalHold={"Status": "ON" if on else "OFF"},
            **_version(version_id),
        )
    except (BotoCoreError, ClientError) as error:
        raise StorageUnavailable(f"{type(error).__name__}: {error}") from None


def object_sha256(*, key: str, version_id: str = "") -> str | None:
    """The SHA-256 of the object's bytes, read again from storage; None when it is not there."""
    storage = document_storage()
    if not isinstance(storage, S3Storage):
        try:
            with storage.open(key, "rb") as stored:
                return _sha256(iter(lambda: stored.read(SPOOL_COPY_BYTES), b""))
        except FileNotFoundError:
            return None
    try:
        body = s3_client(storage).get_object(
            Bucket=storage.bucket_name, Key=s3_object_key(storage, key), **_version(version_id)
        )["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404"):
            return None
        raise StorageUnavailable(f"the stored object could not be read: {error}") from None
    except BotoCoreError as error:
        raise StorageUnavailable(f"the stored object could not be read: {error}") from None
    return _sha256(body.iter_chunks(SPOOL_COPY_BYTES))


def _sha256(chunks) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()

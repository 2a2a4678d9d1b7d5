"""Storage keys, file names and streaming writes, against the S3 server and the filesystem."""

import hashlib

import pytest

from documents.storage import (
    DocumentTooLarge,
    HashingReader,
    document_filename,
    filename_sanitize,
    object_save_stream,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("disposition", "name", "content_type", "expected"),
    [
        ('attachment; filename="Contract.docx"', "ignored", DOCX, "Contract.docx"),
        (
            "attachment; filename=\"Caf_.pdf\"; filename*=UTF-8''Caf%C3%A9%20d%C3%A9j%C3%A0.pdf",
            "x",
            "application/pdf",
            "Cafe deja.pdf",
        ),
        ("", "Example Contract", DOCX, "Example Contract.docx"),
        ("", "Invoice", "application/pdf; charset=binary", "Invoice.pdf"),
        ("", "Notes", "application/x-unknown-thing", "Notes"),
        ('attachment; filename="../../etc/passwd"', "x", "text/plain", "_.._etc_passwd"),
        ('attachment; filename="..."', "", "", "document"),
        ("", "", "", "document"),
        ("", "Report: Q1/Q2 <final>?", "application/pdf", "Report Q1_Q2 final.pdf"),
    ],
)
def test_filename_comes_from_content_disposition_else_name_and_type(disposition, name, content_type, expected):
    assert document_filename(content_disposition=disposition, name=name, content_type=content_type) == expected


def test_sanitized_filename_keeps_only_the_allowed_characters_and_its_extension():
    name = filename_sanitize("a" * 400 + ".pdf")

    assert len(name) <= 200
    assert name.endswith(".pdf")
    assert filename_sanitize("\x00\n\t") == "document"


def test_hashing_reader_hashes_counts_and_serves_any_read_size():
    chunks = [b"abc", b"", b"defgh", b"i" * 10]
    reader = HashingReader(chunks, max_bytes=100)

    parts = [reader.read(4), reader.read(1), reader.read(100), reader.read(5)]

    assert parts == [b"abcd", b"e", b"fgh" + b"i" * 10, b""]
    assert reader.size == 18
    assert reader.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_hashing_reader_stops_at_the_size_limit():
    reader = HashingReader(iter([b"x" * 60, b"x" * 60]), max_bytes=100)

    with pytest.raises(DocumentTooLarge):
        reader.read(1000)


def test_s3_write_is_multipart_with_content_type_and_sha256(bucket):
    chunks = [bytes([n]) * (1024 * 1024) for n in range(11)]  # 11 MiB: three parts of 5 MiB

    stored = object_save_stream(key="advance/t/w/v/d/big.pdf", chunks=iter(chunks), content_type="application/pdf")

    s3_object = bucket.get("advance/t/w/v/d/big.pdf")
    body = s3_object["Body"].read()
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()
    assert body == b"".join(chunks)
    assert s3_object["ContentType"] == "application/pdf"
    assert s3_object["Metadata"] == {"sha256": expected}
    assert stored.sha256 == expected and stored.size == 11 * 1024 * 1024
    # A multipart object's ETag ends with -<number of parts>: 11 MiB in 5 MiB parts is three.
    assert s3_object["ETag"].strip('"').endswith("-3")


def test_s3_write_of_an_existing_key_overwrites_it(bucket):
    object_save_stream(key="k/doc.pdf", chunks=[b"first"], content_type="application/pdf")
    object_save_stream(key="k/doc.pdf", chunks=[b"second"], content_type="application/pdf")

    assert bucket.keys() == ["k/doc.pdf"]
    assert bucket.get("k/doc.pdf")["Body"].read() == b"second"


def test_s3_write_over_the_limit_fails_and_leaves_no_object(bucket, settings):
    settings.DOCUMENT_MAX_BYTES = 6 * 1024 * 1024
    chunks = (b"z" * (1024 * 1024) for _ in range(8))

    with pytest.raises(DocumentTooLarge):
        object_save_stream(key="k/too-big.pdf", chunks=chunks, content_type="application/pdf")

    assert bucket.keys() == []


def test_filesystem_write_keeps_the_exact_key_and_overwrites(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "allow_overwrite": True},
        },
    }

    object_save_stream(key="advance/s/w/v/d/My File.pdf", chunks=[b"one"], content_type="application/pdf")
    stored = object_save_stream(key="advance/s/w/v/d/My File.pdf", chunks=[b"tw", b"o"], content_type="application/pdf")

    assert (tmp_path / "advance/s/w/v/d/My File.pdf").read_bytes() == b"two"
    assert [p.name for p in (tmp_path / "advance/s/w/v/d").iterdir()] == ["My File.pdf"]
    assert stored.sha256 == hashlib.sha256(b"two").hexdigest()


def test_spool_prune_removes_only_files_older_than_the_sync_time_limit(settings, tmp_path):
    import os
    import time

    from documents.storage import spool_prune

    settings.DOCUMENT_SPOOL_DIR = str(tmp_path)
    abandoned, running = tmp_path / "document-abandoned", tmp_path / "document-running"
    abandoned.write_bytes(b"x")
    running.write_bytes(b"y")
    old = time.time() - settings.DOCUMENT_SYNC_TIME_LIMIT - 600
    os.utime(abandoned, (old, old))

    assert spool_prune() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["document-running"]


def test_s3_write_leaves_no_spool_file_behind(bucket, settings, tmp_path):
    settings.DOCUMENT_SPOOL_DIR = str(tmp_path)

    object_save_stream(key="k/spooled.pdf", chunks=[b"a" * 1000], content_type="application/pdf")

    assert list(tmp_path.iterdir()) == []
    assert bucket.get("k/spooled.pdf")["Body"].read() == b"a" * 1000


def test_filesystem_write_that_fails_leaves_the_stored_file_whole(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "allow_overwrite": True},
        },
    }
    settings.DOCUMENT_MAX_BYTES = 10
    object_save_stream(key="a/doc.pdf", chunks=[b"complete"], content_type="application/pdf")

    with pytest.raises(DocumentTooLarge):
        object_save_stream(key="a/doc.pdf", chunks=[b"partial", b"-and-too-long"], content_type="application/pdf")

    assert (tmp_path / "a/doc.pdf").read_bytes() == b"complete"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["doc.pdf"]

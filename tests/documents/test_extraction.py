"""The extraction child's output reaches the worker bounded: a hostile file that makes the parser
write without end costs the worker a bounded buffer, and its failure keeps the end of what was said."""

import subprocess
import sys
import tracemalloc
import zlib

import pytest
from django.conf import settings

from documents.models import DocumentText
from documents.search.extraction import child_run
from documents.search.services import document_text_extract
from tests.factories import document_make

MiB = 1024 * 1024
# Each "1-1" operand makes pypdf log "NumberObject(b'1-1') invalid; use 0 instead" to the child's
# standard error: some 44 bytes from 4 bytes of content stream, which compresses to almost nothing.
WARNINGS = 300_000


def pdf_with_content(content: bytes) -> bytes:
    """A one-page PDF whose page draws `content` (compressed)."""
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# Many MiB of warnings, then an inline image that never ends: the parser gives up (exit EXIT_CORRUPT).
NOISY_CORRUPT_PDF = pdf_with_content(b"BT /F1 10 Tf 72 720 Td (Hi) Tj " + b"1-1 " * WARNINGS + b"ET BI ID")


def test_the_noisy_pdf_makes_the_child_write_many_mib_to_standard_error(tmp_path):
    # What the test below relies on: without it, a bounded parent would prove nothing.
    path = tmp_path / "noisy.pdf"
    path.write_bytes(NOISY_CORRUPT_PDF)
    errors = tmp_path / "stderr"
    with errors.open("wb") as sink:
        command = [sys.executable, "-m", "documents.search.extraction", str(path), "--kind", "pdf"]
        command += ["--max-chars", "1000", "--max-pages", "5"]
        child = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=sink, cwd=settings.BASE_DIR, timeout=60)

    assert len(NOISY_CORRUPT_PDF) < 64 * 1024
    assert child.returncode == 4
    assert errors.stat().st_size > 10 * MiB


@pytest.mark.django_db
def test_a_child_flooding_its_stderr_costs_the_worker_a_bounded_buffer_and_keeps_its_last_words(bucket, source):
    document = document_make(source, document_id="noisy", content=NOISY_CORRUPT_PDF)

    tracemalloc.start()
    try:
        status = document_text_extract(document_id=document.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    text = DocumentText.objects.get(pk=document.pk)
    assert (status, text.reason) == (DocumentText.Status.FAILED, DocumentText.Reason.CORRUPT)
    assert text.detail.endswith("PdfReadError: Unexpected end of stream.")
    assert len(text.detail) <= 2000
    # The child wrote over 10 MiB (above); the worker held at most a small part of it at any time.
    assert peak < 2 * MiB, f"the worker's allocations peaked at {peak / MiB:.1f} MiB"


def test_a_child_writing_more_than_the_text_limit_allows_is_stopped_and_its_output_not_kept(tmp_path):
    endless = "import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 65536)"

    result = child_run([sys.executable, "-c", endless], timeout=30, max_output=1000, env={}, cwd=tmp_path)

    assert result.returncode < 0  # killed
    assert len(result.stdout) <= 1000
    assert b"standard output over 1000 bytes: the extractor was stopped" in result.stderr

"""The warm extraction children: every limit of a child per document still enforced (a memory
bomb and an endless document killed, the next document unharmed), children recycled and replaced,
one thread's answer never another's, none outliving the worker; and a child's output reaches the
worker bounded: a hostile file that makes the parser write without end costs the worker a bounded
buffer, and its failure keeps the end of what was said."""

import io
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from django.conf import settings

from documents.models import DocumentText
from documents.search.children import ChildPool, Limits
from documents.search.services import document_text_extract, extraction_children, spool_text_extract
from tests.factories import document_make
from tests.support.search_files import DOCX_TYPE, docx_bytes, pdf_bytes

MiB = 1024 * 1024
# Each "1-1" operand makes pypdf log "NumberObject(b'1-1') invalid; use 0 instead" to the child's
# standard error: some 44 bytes from 4 bytes of content stream, which compresses to almost nothing.
WARNINGS = 300_000


def pdf_with_content(content: bytes, *, pages: int = 1) -> bytes:
    """A PDF of `pages` pages, each drawing `content` (compressed, stored once)."""
    stream = zlib.compress(content, 9)
    kids = b" ".join(b"%d 0 R" % (6 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Font << /F1 3 0 R >> >>",
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources 5 0 R >>"
    objects += [page] * pages
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


# pypdf reads each page's 100,000 moves (under its limit of tokens per stream) in about a second
# here, and this PDF of 2 KiB has 300 such pages (their content stored once): minutes of parsing.
ENDLESS_PDF = pdf_with_content(b"BT /F1 10 Tf 72 720 Td " + b"1 0 Td " * 100_000 + b"(a) Tj ET", pages=300)
BOMB_LIMIT = 256 * MiB


def docx_bomb(*, mib: int) -> bytes:
    """A real .docx whose body part inflates to `mib` MiB (of spaces), from under 1 MiB of zip."""
    original = zipfile.ZipFile(io.BytesIO(docx_bytes(paragraph="Bomb")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in original.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, original.read(item.filename))
                continue
            body = original.read(item.filename)
            with bomb.open(item.filename, "w") as part:
                part.write(body.replace(b"</w:document>", b""))
                for _ in range(mib):
                    part.write(b" " * MiB)
                part.write(b"</w:document>")
    return out.getvalue()


def gone(pid: int) -> bool:
    """Whether the process is no more (ended and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def dead(pid: int) -> bool:
    """Whether the process ended (a zombie not reaped yet counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stored_pdf(source, document_id: str, text: str):
    return document_make(source, document_id=document_id, content=pdf_bytes(text))


def extracted_text(document) -> str:
    assert document_text_extract(document_id=document.pk) == DocumentText.Status.EXTRACTED
    return DocumentText.objects.get(pk=document.pk).text


@pytest.mark.django_db
def test_a_memory_bomb_is_killed_as_memory_and_the_next_document_is_extracted(bucket, source, settings):
    settings.SEARCH_EXTRACT_MEMORY_BYTES = BOMB_LIMIT
    bomb = docx_bomb(mib=400)
    assert len(bomb) < settings.SEARCH_EXTRACT_MAX_BYTES
    document = document_make(source, document_id="bomb", content=bomb, content_type=DOCX_TYPE, extension="docx")
    extracted_text(stored_pdf(source, "warm-up", "Warm up"))
    (bombed,) = extraction_children.idle_pids()

    status = document_text_extract(document_id=document.pk)

    text = DocumentText.objects.get(pk=document.pk)
    assert (status, text.reason) == (DocumentText.Status.FAILED, DocumentText.Reason.MEMORY)
    assert f"over SEARCH_EXTRACT_MEMORY_BYTES ({BOMB_LIMIT})" in text.detail
    assert gone(bombed)  # killed and reaped, never asked again
    assert "Annual rent of the warehouse" in extracted_text(stored_pdf(source, "next", "Annual rent of the warehouse"))
    assert extraction_children.idle_pids() != [bombed]


@pytest.mark.django_db
def test_a_child_whose_memory_grew_past_half_its_limit_is_replaced_though_it_answered(bucket, source, settings):
    settings.SEARCH_EXTRACT_MEMORY_BYTES = 2 * BOMB_LIMIT
    # 150 MiB read whole from the zip, then refused by the XML parser: about 330 MiB resident at
    # its peak, under the limit, over its half.
    bomb = docx_bomb(mib=150)
    document = document_make(source, document_id="big", content=bomb, content_type=DOCX_TYPE, extension="docx")
    extracted_text(stored_pdf(source, "warm-up", "Warm up"))
    (grown,) = extraction_children.idle_pids()

    status = document_text_extract(document_id=document.pk)

    text = DocumentText.objects.get(pk=document.pk)
    assert (status, text.reason) == (DocumentText.Status.FAILED, DocumentText.Reason.CORRUPT)
    assert "Text node too long" in text.detail
    assert gone(grown)
    assert "Deposit" in extracted_text(stored_pdf(source, "next", "Deposit"))


@pytest.mark.django_db
def test_an_endless_document_is_killed_at_its_deadline_and_the_next_document_is_extracted(bucket, source, settings):
    settings.SEARCH_EXTRACT_SECONDS = 3
    document = document_make(source, document_id="endless", content=ENDLESS_PDF)
    extracted_text(stored_pdf(source, "warm-up", "Warm up"))
    (stuck,) = extraction_children.idle_pids()
    started = time.monotonic()

    status = document_text_extract(document_id=document.pk)

    text = DocumentText.objects.get(pk=document.pk)
    assert (status, text.reason) == (DocumentText.Status.FAILED, DocumentText.Reason.TIMEOUT)
    assert 3 <= time.monotonic() - started < 10
    assert gone(stuck)
    assert "Quarterly instalments" in extracted_text(stored_pdf(source, "next", "Quarterly instalments"))
    assert extraction_children.idle_pids() != [stuck]


@pytest.mark.django_db
def test_a_child_is_replaced_after_its_number_of_documents(bucket, source, settings):
    settings.SEARCH_EXTRACT_CHILD_DOCUMENTS = 2
    pids = []
    for n in range(5):
        assert f"Clause {n}" in extracted_text(stored_pdf(source, f"d{n}", f"Clause {n}"))
        pids += extraction_children.idle_pids()

    # The idle child after each document: one that answered twice is replaced at once, by a child
    # that waits, loaded, for the next document.
    assert pids[0] != pids[1] == pids[2] != pids[3] == pids[4]
    assert gone(pids[0]) and gone(pids[2])


@pytest.mark.django_db
def test_a_child_killed_between_documents_is_replaced_and_the_next_document_extracted(bucket, source):
    extracted_text(stored_pdf(source, "first", "First"))
    (killed,) = extraction_children.idle_pids()
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: dead(killed))

    assert "Second lease" in extracted_text(stored_pdf(source, "second", "Second lease"))
    assert extraction_children.idle_pids() not in ([], [killed])
    assert gone(killed)  # reaped by the pool, not left a zombie


def test_children_used_by_two_threads_at_once_give_each_thread_its_own_documents(tmp_path, settings):
    settings.SEARCH_EXTRACT_CONCURRENCY = 2
    files = {}
    for n in range(16):
        if n % 2:
            path = tmp_path / f"{n}.docx"
            path.write_bytes(docx_bytes(paragraph=f"Paragraph number {n} of a docx"))
            files[path] = ("docx", f"Paragraph number {n} of a docx")
        else:
            path = tmp_path / f"{n}.pdf"
            path.write_bytes(pdf_bytes(f"Page number {n} of a pdf"))
            files[path] = ("pdf", f"Page number {n} of a pdf")
    paths = list(files)
    answers: dict[Path, str] = {}
    both_started = threading.Barrier(2)

    def extract(mine: list[Path]) -> None:
        both_started.wait()
        for path in mine:
            result = spool_text_extract(path=str(path), kind=files[path][0])
            answers[path] = result.stdout.decode()

    threads = [threading.Thread(target=extract, args=(paths[n::2],)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(answers) == 16
    for path, (_, text) in files.items():
        assert answers[path].startswith("F") and text in answers[path], path
        assert all(text not in answers[other] for other in paths if other != path)
    assert len(set(extraction_children.idle_pids())) == 2


def test_an_idle_child_ends_when_its_worker_is_killed(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, sys\n"
        "from documents.search.children import ChildPool, Limits\n"
        "pool = ChildPool()\n"
        "command = [sys.executable, '-m', 'documents.search.extraction', '--serve', '--max-chars', '100',"
        " '--max-pages', '1']\n"
        "limits = Limits(seconds=30, max_output=1000, documents=10, peak_kib=0)\n"
        "result = pool.extract(path=sys.argv[1], kind='txt', command=command, env=dict(os.environ), cwd='.',"
        " limits=limits, keep=1)\n"
        "print(result.stdout.decode(), pool.idle_pids()[0], flush=True)\n"
        "sys.stdin.read()\n"  # until the test kills it
    )
    (tmp_path / "note.txt").write_text("Hello")
    env = {**os.environ, "PYTHONPATH": str(settings.BASE_DIR)}
    with subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "note.txt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=settings.BASE_DIR,
        env=env,
    ) as worker:
        said, pid = worker.stdout.readline().split()
        assert said == b"FHello" and not dead(int(pid))
        worker.kill()
        worker.wait()

        wait_until(lambda: dead(int(pid)))


def test_a_child_answering_more_than_the_text_limit_allows_is_stopped_and_its_answer_not_kept(tmp_path):
    # A header announcing 10 MB, then bytes without end: the protocol broken, the child killed.
    endless = (
        "import struct, sys\n"
        "sys.stdin.readline()\n"
        "sys.stdout.buffer.write(struct.pack('!BQQ', 0, 0, 10_000_000))\n"
        "while True:\n"
        "    sys.stdout.buffer.write(b'x' * 65536)"
    )
    pool = ChildPool()
    limits = Limits(seconds=30, max_output=1000, documents=10, peak_kib=0)

    result = pool.extract(
        path="unused", kind="txt", command=[sys.executable, "-c", endless], env={}, cwd=tmp_path, limits=limits, keep=1
    )

    assert result.returncode < 0  # killed
    assert result.stdout == b""
    assert b"an answer over 1000 bytes: the extractor was stopped" in result.stderr
    pool.close()


def test_a_child_answering_with_an_unknown_status_or_dying_is_not_asked_again(tmp_path):
    pool = ChildPool()
    limits = Limits(seconds=30, max_output=1000, documents=10, peak_kib=0)
    garbage = "import sys\nsys.stdin.readline()\nsys.stdout.write('this is no header at all')\nsys.stdout.flush()"
    dying = "import sys\nsys.stdin.readline()\nsys.stderr.write('Segmentation fault, say')\nsys.exit(-11 % 256)"

    broken = pool.extract(
        path="x", kind="txt", command=[sys.executable, "-c", garbage], env={}, cwd=tmp_path, limits=limits, keep=1
    )
    died = pool.extract(
        path="x", kind="txt", command=[sys.executable, "-c", dying], env={}, cwd=tmp_path, limits=limits, keep=1
    )

    assert broken.returncode == -signal.SIGKILL and b"unknown status" in broken.stderr
    assert died.returncode == 245 and died.stderr == b"Segmentation fault, say"
    pool.close()


@pytest.mark.parametrize("own_exit", [0, 3, 4, 5])
def test_a_child_that_broke_the_protocol_and_ended_by_itself_reads_as_stopped_not_as_its_exit(tmp_path, own_exit):
    # The child exits at once (0 would read as a good answer, 3-5 as a parser's verdict); a
    # grandchild holding its standard output writes the bad answer after, so the parent always
    # finds the child dead when it stops it.
    late_garbage = (
        "import os, sys, time\n"
        "sys.stdin.readline()\n"
        f"if os.fork(): os._exit({own_exit})\n"
        "time.sleep(0.3)\n"
        "os.write(1, b'this is no header at all')\n"
        "os._exit(0)"
    )
    pool = ChildPool()
    limits = Limits(seconds=30, max_output=1000, documents=10, peak_kib=0)

    result = pool.extract(
        path="x", kind="txt", command=[sys.executable, "-c", late_garbage], env={}, cwd=tmp_path, limits=limits, keep=1
    )

    assert result.returncode == -signal.SIGKILL
    assert result.stdout == b""
    assert b"unknown status 116: the extractor was stopped" in result.stderr
    pool.close()

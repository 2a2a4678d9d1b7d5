"""Text extractors for stored documents, and the child process that runs them.

Kept free of Django so the child (`python -m documents.search.extraction`) starts in a fraction of
a second and holds nothing of the worker's: a hostile file can exhaust only the child's memory
limit (RLIMIT_AS) and time budget (the parent's timeout), never the worker.
"""

import argparse
import contextlib
import io
import os
import resource
import selectors
import subprocess
import sys
import time
from html.parser import HTMLParser

KINDS = ("docx", "pdf", "txt", "rtf", "html")
# Exit codes of the child; the parent maps them to DocumentText reasons.
EXIT_NO_TEXT = 3
EXIT_CORRUPT = 4
EXIT_MEMORY = 5
# What the parent keeps of the child's standard error: its first and last halves of this.
STDERR_KEEP_BYTES = 64 * 1024
PIPE_READ_BYTES = 64 * 1024
# Decoders tried in order for plain text; cp1252 maps nearly every byte, latin-1 every one.
TEXT_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
KIND_BY_TYPE = {
    DOCX_TYPE: "docx",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "text/html": "html",
    "application/xhtml+xml": "html",
}
KIND_BY_EXTENSION = {".docx": "docx", ".pdf": "pdf", ".txt": "txt", ".rtf": "rtf", ".html": "html", ".htm": "html"}


class NoText(Exception):
    """The file is readable but holds no text (a PDF of scanned images)."""


def kind_for(*, content_type: str, filename: str) -> str | None:
    """Which extractor reads this document, by its media type, else its file name; None: none does."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in KIND_BY_TYPE:
        return KIND_BY_TYPE[media_type]
    return KIND_BY_EXTENSION.get(os.path.splitext(filename or "")[1].lower())


class _Bounded:
    """Collects text up to max_chars; past that, stops the extractor early."""

    class Full(Exception):
        pass

    def __init__(self, max_chars: int) -> None:
        self.parts: list[str] = []
        self.left = max_chars
        self.truncated = False

    def add(self, text: str) -> None:
        if not text:
            return
        if len(text) > self.left:
            self.parts.append(text[: self.left])
            self.left, self.truncated = 0, True
            raise self.Full
        self.parts.append(text)
        self.left -= len(text)

    def text(self) -> str:
        return "\n".join(part for part in self.parts if part)


def _docx(path: str, out: _Bounded, max_pages: int) -> None:
    import docx  # imported here: the child loads only the library it needs

    document = docx.Document(path)

    def table(t) -> None:
        for row in t.rows:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    out.add(paragraph.text)
                for inner in cell.tables:
                    table(inner)

    def margins(kind: str) -> None:
        # A part linked to the previous section's shows that one's text: read it once, there.
        for section in document.sections:
            for name in (kind, f"first_page_{kind}", f"even_page_{kind}"):
                part = getattr(section, name)
                if not part.is_linked_to_previous:
                    for paragraph in part.paragraphs:
                        out.add(paragraph.text)

    margins("header")
    for paragraph in document.paragraphs:
        out.add(paragraph.text)
    for t in document.tables:
        table(t)
    margins("footer")


def _pdf(path: str, out: _Bounded, max_pages: int) -> None:
    from pypdf import PdfReader

    reader = PdfReader(path)
    for number, page in enumerate(reader.pages):
        if number >= max_pages:
            out.truncated = True
            return
        out.add(page.extract_text() or "")


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    for encoding in TEXT_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _txt(path: str, out: _Bounded, max_pages: int) -> None:
    with open(path, "rb") as file:
        out.add(_decode(file.read()))


def _rtf(path: str, out: _Bounded, max_pages: int) -> None:
    from striprtf.striprtf import rtf_to_text

    with open(path, "rb") as file:
        data = file.read()
    if not data.lstrip().startswith(b"{\\rtf"):
        raise ValueError("not an RTF file (no {\\rtf header)")
    out.add(rtf_to_text(data.decode("latin-1"), errors="ignore"))


class _HtmlText(HTMLParser):
    SKIP = {"script", "style", "template", "noscript"}

    def __init__(self, out: _Bounded) -> None:
        super().__init__(convert_charrefs=True)
        self.out, self.skipping = out, 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data) -> None:
        if not self.skipping and data.strip():
            self.out.add(data.strip())


def _html(path: str, out: _Bounded, max_pages: int) -> None:
    parser = _HtmlText(out)
    with open(path, "rb") as file:
        parser.feed(_decode(file.read()))
    parser.close()


EXTRACTORS = {"docx": _docx, "pdf": _pdf, "txt": _txt, "rtf": _rtf, "html": _html}


def text_extract(*, path: str, kind: str, max_chars: int, max_pages: int) -> tuple[str, bool]:
    """The document's text (at most max_chars) and whether more was left out; NoText if it has none."""
    out = _Bounded(max_chars)
    with contextlib.suppress(_Bounded.Full):
        EXTRACTORS[kind](path, out, max_pages)
    text = out.text()
    if not text.strip():
        raise NoText("the document holds no text" + (" layer (a scanned image?)" if kind == "pdf" else ""))
    return text, out.truncated


class _Kept:
    """What is kept of a pipe: its first `head` bytes and its last `tail`, the rest counted."""

    def __init__(self, *, head: int, tail: int) -> None:
        self.head, self.tail = bytearray(), bytearray()
        self.head_max, self.tail_max = head, tail
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        del self.tail[: max(0, len(self.tail) - self.tail_max)]

    def value(self) -> bytes:
        left_out = self.total - len(self.head) - len(self.tail)
        if not left_out:
            return bytes(self.head + self.tail)
        return bytes(self.head) + b"\n[... %d bytes left out ...]\n" % left_out + bytes(self.tail)


def child_run(
    command: list[str], *, timeout: float, max_output: int, env: dict[str, str], cwd
) -> subprocess.CompletedProcess:
    """Run the child to its end: its standard output (at most max_output bytes) and a bounded part of its errors.

    Both pipes are drained as they fill, so the child never blocks on a full one, but the parent
    holds at most max_output bytes of output (a child writing more is stopped: it broke the
    protocol) and STDERR_KEEP_BYTES of standard error, its start and its end. Raises
    subprocess.TimeoutExpired, the child killed, after timeout seconds.
    """
    output = _Kept(head=max_output + 1, tail=0)
    errors = _Kept(head=STDERR_KEEP_BYTES // 2, tail=STDERR_KEEP_BYTES // 2)
    deadline = time.monotonic() + timeout
    with (
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
        ) as child,
        selectors.DefaultSelector() as selector,
    ):
        selector.register(child.stdout, selectors.EVENT_READ, output)
        selector.register(child.stderr, selectors.EVENT_READ, errors)
        while selector.get_map() and output.total <= max_output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                child.kill()
                raise subprocess.TimeoutExpired(command, timeout)
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, PIPE_READ_BYTES)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fileobj)
        if output.total > max_output:
            child.kill()
            errors.add(b"\n[standard output over %d bytes: the extractor was stopped]" % max_output)
        try:
            returncode = child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            raise
    return subprocess.CompletedProcess(command, returncode, output.value()[:max_output], errors.value())


def main(argv: list[str] | None = None) -> int:
    """The child: extract one spooled file's text to standard output (UTF-8); the exit code says how it ended."""
    parser = argparse.ArgumentParser(prog="python -m documents.search.extraction")
    parser.add_argument("path")
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--max-chars", type=int, required=True)
    parser.add_argument("--max-pages", type=int, required=True)
    parser.add_argument("--memory-bytes", type=int, default=0)
    args = parser.parse_args(argv)
    # Below the worker's own threads: a burst of extractions never takes the CPU from the syncs.
    os.nice(10)
    if args.memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_bytes, args.memory_bytes))
    try:
        text, truncated = text_extract(
            path=args.path, kind=args.kind, max_chars=args.max_chars, max_pages=args.max_pages
        )
    except NoText as error:
        print(error, file=sys.stderr)
        return EXIT_NO_TEXT
    except MemoryError:
        print("out of memory", file=sys.stderr)
        return EXIT_MEMORY
    except Exception as error:  # any parser's complaint about a hostile or broken file
        print(f"{type(error).__name__}: {error}"[:500], file=sys.stderr)
        return EXIT_CORRUPT
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="replace")
    stdout.write("T" if truncated else "F")  # first character: truncated or not
    stdout.write(text)
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

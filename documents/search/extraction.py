"""Text extractors for stored documents, and the child process that runs them.

Kept free of Django so the child (`python -m documents.search.extraction --serve`) starts in a
fraction of a second and holds nothing of the worker's: a hostile file can exhaust only the child's
memory limit (RLIMIT_AS) and time budget (the parent's deadline), never the worker. A child serves
one document after another (documents/search/children.py is the parent's side); the one-shot form
(`python -m documents.search.extraction FILE --kind pdf ...`) is kept for operators, to see what a
file gives outside the worker.
"""

import argparse
import contextlib
import json
import os
import resource
import signal
import struct
import sys
from html.parser import HTMLParser

KINDS = ("docx", "pdf", "txt", "rtf", "html")
# How an extraction ended: the one-shot child's exit code, the serving child's answer status. The
# parent maps them to DocumentText reasons.
EXIT_OK = 0
EXIT_NO_TEXT = 3
EXIT_CORRUPT = 4
EXIT_MEMORY = 5
# The serving child reads one request per line (JSON: path, kind) on standard input and answers
# each with this header (status, the child's peak resident memory in KiB, the payload's length in
# bytes), then the payload: on EXIT_OK "T" or "F" (truncated or not) and the text, else the error
# message, in UTF-8.
ANSWER_HEADER = struct.Struct("!BQQ")
# A serving child still parsing this long after the parent's deadline ends itself (SIGALRM's
# default action): only an orphaned one can get there, the parent kills at the deadline.
ORPHAN_GRACE_SECONDS = 30
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


def _outcome(*, path: str, kind: str, max_chars: int, max_pages: int) -> tuple[int, bytes]:
    """One extraction's status and payload (the text with its flag, else the error message)."""
    try:
        text, truncated = text_extract(path=path, kind=kind, max_chars=max_chars, max_pages=max_pages)
        return EXIT_OK, ("T" if truncated else "F").encode() + text.encode("utf-8", "replace")
    except NoText as error:
        return EXIT_NO_TEXT, str(error).encode()
    except MemoryError:
        return EXIT_MEMORY, b"MemoryError: out of memory"
    except Exception as error:  # any parser's complaint about a hostile or broken file
        return EXIT_CORRUPT, f"{type(error).__name__}: {error}"[:500].encode("utf-8", "replace")


def _preload() -> None:
    """Import every extractor's library once, so that no document pays for it."""
    for module in ("docx", "pypdf", "striprtf.striprtf"):
        # Left to the extractor to fail (and say why) with the document that needs it.
        with contextlib.suppress(ImportError, MemoryError):
            __import__(module)


def _limits(memory_bytes: int) -> None:
    # Below the worker's own threads: a burst of extractions never takes the CPU from the syncs.
    os.nice(10)
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def serve(*, max_chars: int, max_pages: int, memory_bytes: int, seconds: int) -> int:
    """The serving child: answer each request on standard input until it closes (the parent is
    done, or dead)."""
    # The answers get a descriptor of their own; standard output becomes standard error, so that
    # a library's stray print can never be read as an answer.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _limits(memory_bytes)
    _preload()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        signal.alarm(max(seconds, 1) + ORPHAN_GRACE_SECONDS)
        status, payload = _outcome(path=request["path"], kind=request["kind"], max_chars=max_chars, max_pages=max_pages)
        signal.alarm(0)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        answers.write(ANSWER_HEADER.pack(status, peak_kib, len(payload)))
        answers.write(payload)
        answers.flush()
        del payload
    return 0


def main(argv: list[str] | None = None) -> int:
    """The child: serve requests (--serve), or extract one file's text to standard output (UTF-8),
    the exit code saying how it ended."""
    parser = argparse.ArgumentParser(prog="python -m documents.search.extraction")
    parser.add_argument("path", nargs="?", help="the file to extract (without --serve)")
    parser.add_argument("--serve", action="store_true", help="answer requests on standard input")
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--max-chars", type=int, required=True)
    parser.add_argument("--max-pages", type=int, required=True)
    parser.add_argument("--memory-bytes", type=int, default=0)
    parser.add_argument("--seconds", type=int, default=60, help="the parent's time budget per document")
    args = parser.parse_args(argv)
    if args.serve:
        return serve(
            max_chars=args.max_chars, max_pages=args.max_pages, memory_bytes=args.memory_bytes, seconds=args.seconds
        )
    if not (args.path and args.kind):
        parser.error("a path and --kind, or --serve")
    _limits(args.memory_bytes)
    status, payload = _outcome(path=args.path, kind=args.kind, max_chars=args.max_chars, max_pages=args.max_pages)
    if status != EXIT_OK:
        sys.stderr.buffer.write(payload + b"\n")
        return status
    sys.stdout.buffer.write(payload)
    sys.stdout.flush()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

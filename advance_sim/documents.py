"""Deterministic .docx and .pdf bytes for simulated Advance documents, produced chunk by chunk.

A document of any `size` is the real document with a padding block inside it (an XML comment in
`word/document.xml`, comment lines before a PDF's `startxref`), so it stays a valid file and its
bytes can be regenerated (and hashed) without ever holding them all in memory.
"""

import hashlib
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

CHUNK_SIZE = 64 * 1024
CONTENT_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
# Without Zip64 a stored member must stay under zipfile's 2 GiB limit; big tests use PDFs.
MAX_DOCX_SIZE = zipfile.ZIP64_LIMIT - CHUNK_SIZE


@dataclass
class SimDocument:
    """One assembled document of a work item version, plus how the server should serve it."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = "Example Contract"
    kind: str = "docx"  # "docx" or "pdf"
    size: int | None = None  # exact byte size, padded up from the natural size; None: natural
    content_type: str | None = None  # overrides the kind's media type
    content_disposition: bool = True
    filename_star: bool = False  # RFC 5987 `filename*=UTF-8''...` as ASP.NET sends it
    chunked: bool = False  # Transfer-Encoding: chunked, no Content-Length
    cut_after_bytes: int | None = None  # drop the connection after this many body bytes
    text: str = ""  # body paragraph; empty: a line naming the document id
    body: bytes | None = None  # served as given instead of the generated document (e.g. a real .docx)

    def __post_init__(self) -> None:
        if self.kind not in CONTENT_TYPES:
            raise ValueError(f"kind must be one of {sorted(CONTENT_TYPES)}, not {self.kind!r}")
        if self.size is not None:
            if self.size < natural_size(self):
                raise ValueError(f"size {self.size} is below the document's natural size {natural_size(self)}")
            if self.kind == "docx" and self.size > MAX_DOCX_SIZE:
                raise ValueError("docx documents are limited to 2 GiB; use kind='pdf' for larger ones")

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.kind}"

    @property
    def media_type(self) -> str:
        return self.content_type or CONTENT_TYPES[self.kind]

    @property
    def body_text(self) -> str:
        return self.text or f"Simulated Advance document {self.id}"


def document_chunks(doc: SimDocument) -> Iterator[bytes]:
    """Yield the document's bytes in chunks of at most CHUNK_SIZE; the same bytes every time."""
    padding = 0 if doc.size is None else doc.size - natural_size(doc)
    if doc.body is not None:
        yield from (doc.body[start : start + CHUNK_SIZE] for start in range(0, len(doc.body), CHUNK_SIZE))
        yield from _padding(doc.id, padding)
        return
    chunks = _docx_chunks(doc, padding) if doc.kind == "docx" else _pdf_chunks(doc, padding)
    for chunk in chunks:
        for start in range(0, len(chunk), CHUNK_SIZE):
            yield chunk[start : start + CHUNK_SIZE]


def document_bytes(doc: SimDocument) -> bytes:
    """The whole document at once; meant for small documents."""
    return b"".join(document_chunks(doc))


def document_sha256(doc: SimDocument) -> str:
    """Hex SHA-256 of the document, computed chunk by chunk."""
    digest = hashlib.sha256()
    for chunk in document_chunks(doc):
        digest.update(chunk)
    return digest.hexdigest()


def document_size(doc: SimDocument) -> int:
    return natural_size(doc) if doc.size is None else doc.size


def natural_size(doc: SimDocument) -> int:
    """Size of the document with an empty padding block."""
    if doc.body is not None:
        return len(doc.body)
    chunks = _docx_chunks(doc, 0) if doc.kind == "docx" else _pdf_chunks(doc, 0)
    return sum(len(chunk) for chunk in chunks)


def _padding(seed: str, length: int) -> Iterator[bytes]:
    """Yield `length` bytes of `%`-comment lines ending in a newline.

    Each 64 KiB block starts with its own number, so a client that repeats or reorders chunks
    stores different bytes. Only `%`, hex digits and newlines: safe in a PDF and in an XML comment.
    """
    if length <= 0:
        return
    template = b"".join(
        b"%" + hashlib.sha256(f"{seed}:{line}".encode()).hexdigest()[:62].encode() + b"\n"
        for line in range(CHUNK_SIZE // 64)
    )
    for number, start in enumerate(range(0, length, CHUNK_SIZE)):
        block = (b"%" + str(number).zfill(62).encode() + b"\n" + template[64:])[: length - start]
        if start + len(block) == length:
            block = block[:-1] + b"\n"  # a cut comment line must not swallow what follows
        yield block


# --- docx -----------------------------------------------------------------------------------

_CONTENT_TYPES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="word/document.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)


class _Sink:
    """A write-only file for zipfile; being unseekable makes it stream with data descriptors."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _zip_info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp and stored (uncompressed) members keep the bytes and overhead constant.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    return info


def _docx_chunks(doc: SimDocument, padding: int) -> Iterator[bytes]:
    paragraphs = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{escape(line)}</w:t></w:r></w:p>' for line in (doc.name, doc.body_text)
    )
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<!--'
    tail = (
        '-->\n<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{paragraphs}</w:body></w:document>"
    )
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(_zip_info("[Content_Types].xml"), _CONTENT_TYPES_XML)
        archive.writestr(_zip_info("_rels/.rels"), _RELS_XML)
        with archive.open(_zip_info("word/document.xml"), "w") as part:
            part.write(head.encode())
            for block in _padding(doc.id, padding):
                part.write(block)
                yield sink.drain()
            part.write(tail.encode())
    yield sink.drain()


# --- pdf ------------------------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    # Helvetica with WinAnsiEncoding shows cp1252 text; anything else becomes "?".
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _pdf_chunks(doc: SimDocument, padding: int) -> Iterator[bytes]:
    stream = b"BT /F1 18 Tf 72 720 Td %s Tj 0 -28 Td /F1 10 Tf %s Tj ET" % (
        _pdf_string(doc.name),
        _pdf_string(doc.body_text),
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # the binary comment marks the file as binary
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_offset = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    # Padding goes after the trailer, so no offset depends on its length.
    yield bytes(out)
    yield from _padding(doc.id, padding)
    yield b"startxref\n%d\n%%%%EOF\n" % xref_offset

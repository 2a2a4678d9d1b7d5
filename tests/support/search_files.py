"""Real document bytes for the search tests: a .docx written by python-docx, PDFs with and without a text layer."""

import io

import docx
from pypdf import PdfWriter

from advance_sim import SimDocument, document_bytes

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def docx_bytes(*, paragraph: str, table_cell: str = "", header: str = "", footer: str = "") -> bytes:
    document = docx.Document()
    document.add_paragraph(paragraph)
    if table_cell:
        table = document.add_table(rows=1, cols=2)
        table.cell(0, 0).text = "Clause"
        table.cell(0, 1).text = table_cell
    section = document.sections[0]
    if header:
        section.header.paragraphs[0].text = header
    if footer:
        section.footer.paragraphs[0].text = footer
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes(text: str) -> bytes:
    """A valid one-page PDF whose text layer says `text` (the simulated Advance's hand-written PDF)."""
    return document_bytes(SimDocument(name="Agreement", kind="pdf", text=text))


def pdf_without_text_bytes() -> bytes:
    """A valid PDF of one blank page: what a scan without OCR looks like to a text extractor."""
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


CORRUPT_DOCX = b"PK\x03\x04 this is not a zip archive at all " * 20


def docx_paragraphs_bytes(paragraphs: list[str]) -> bytes:
    """A .docx written by python-docx, one paragraph each."""
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf_literal(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def pdf_lines_bytes(lines: list[str]) -> bytes:
    """A valid one-page PDF whose text layer has these lines, one under the other (Helvetica, cp1252)."""
    shown = b" 0 -14 Td ".join(_pdf_literal(line) + b" Tj" for line in lines)
    stream = b"BT /F1 10 Tf 72 760 Td " + shown + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)

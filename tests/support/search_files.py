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

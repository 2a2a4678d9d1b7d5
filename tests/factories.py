"""The tests' makers, in one place: sources, tokens' admin forms, documents with their work items and
versions, deliveries, webhook calls, and the bytes of documents.

Each maker goes through the project's services where one exists (source_save, object_save_stream),
so that a row made here is a row the application itself could have made."""

import hashlib
import json
import re
import struct
import zlib
from datetime import timedelta

import requests
from django.urls import reverse
from django.utils import timezone

from documents.models import Document, DocumentText, WorkItem, WorkItemVersion
from documents.storage import object_save_stream
from sources.models import Source
from sources.services import source_save
from webhooks.models import Delivery

PDF_BYTES = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def png_bytes(width: int = 120, height: int = 80, rgb: tuple[int, int, int] = (46, 133, 64)) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG_BYTES = png_bytes()
KEY_PATTERN = re.compile(r"whk_[A-Za-z0-9_-]{20,}")
SOURCE_PASSWORD = 'Pa55-word with spaces & <angle> "quotes"'


# Sources -----------------------------------------------------------------------------------


def source_make(slug: str = "globex", **fields) -> Source:
    """A source at an Advance that is never called (see the `source` fixture for a live one)."""
    values = {
        "api_base_url": f"https://{slug}.example/api",
        "auth_base_url": f"https://{slug}.example/auth",
        "client_name": slug,
        "principal_name": "sync",
        "principal_password": "secret",
        **fields,
    }
    source, _ = source_save(slug=slug, **values)
    return source


def source_form_data(**overrides) -> dict:
    """The admin's source form, filled in as an operator would."""
    data = {
        "slug": "globex",
        "name": "Globex tenancy",
        "is_active": "on",
        "api_base_url": "https://globex.hotdocsadvance.com/api/rest/v1.1/",
        "auth_base_url": "https://globex.hotdocsadvance.com/auth",
        "client_name": "globex",
        "principal_name": "sync-principal",
        "principal_password": SOURCE_PASSWORD,
    }
    data.update(overrides)
    return data


def token_inline_management(source: Source) -> dict:
    """The management form of the tokens inline on the source's admin page."""
    count = str(source.tokens.count())
    return {
        "tokens-TOTAL_FORMS": count,
        "tokens-INITIAL_FORMS": count,
        "tokens-MIN_NUM_FORMS": "0",
        "tokens-MAX_NUM_FORMS": "1000",
    }


# Documents ---------------------------------------------------------------------------------


def document_make(
    source: Source,
    *,
    work_item_name: str = "WI001",
    work_item_id: str = "wi-1",
    version_id: str = "v-1",
    document_id: str = "doc-1",
    name: str = "Example Contract",
    status: str = Document.Status.STORED,
    content: bytes | None = None,
    content_type: str = "application/pdf",
    extension: str = "pdf",
    completed_at=None,
    delivery: Delivery | None = None,
    login: str = "john.smith@example.com",
    **fields,
) -> Document:
    """A document row; stored ones get a filename, size and hash, and with content their bytes in storage."""
    work_item, _ = WorkItem.objects.get_or_create(
        source=source, advance_id=work_item_id, defaults={"name": work_item_name}
    )
    version, _ = WorkItemVersion.objects.get_or_create(
        work_item=work_item,
        advance_id=version_id,
        defaults={"completed_at": completed_at or timezone.now(), "created_by_login": login, "delivery": delivery},
    )
    if status == Document.Status.STORED:
        filename = f"{name}.{extension}"
        key = f"advance/{source.slug}/{work_item_id}/{version_id}/{document_id}/{filename}"
        if content is not None:
            stored = object_save_stream(key=key, chunks=[content], content_type=content_type)
            size, sha256 = stored.size, stored.sha256
        else:
            size, sha256 = 1234, hashlib.sha256(f"{version_id}/{document_id}".encode()).hexdigest()
        fields = {
            "filename": filename,
            "content_type": content_type,
            "size": size,
            "sha256": sha256,
            "storage_key": key,
            "synced_at": timezone.now(),
            **fields,
        }
    return Document.objects.create(
        version=version, source=source, advance_id=document_id, name=name, status=status, **fields
    )


def document_text_indexed(document: Document, text: str, *, config: str = "english") -> DocumentText:
    """The document's text as extraction leaves it, without a stored file to read: the text, the
    document's source and, on PostgreSQL, the search vector."""
    from django.contrib.postgres.search import SearchVector
    from django.db import connection

    record = DocumentText.objects.create(
        document=document, source_id=document.source_id, status=DocumentText.Status.EXTRACTED, text=text, config=config
    )
    if connection.vendor == "postgresql":
        DocumentText.objects.filter(pk=document.pk).update(search_vector=SearchVector("text", config=config))
    return record


def download_url(document: Document) -> str:
    """The admin's download view of a document."""
    return reverse("admin:documents_document_download", args=[document.pk])


# Deliveries and webhook calls --------------------------------------------------------------


def event_body(event_id: str = "evt-1", work_item_id: str = "wi-1", version_id: str = "v-1") -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "eventType": "NewWorkItemVersionComplete",
            "data": {"workItemId": work_item_id, "workItemVersionId": version_id, "workItemName": "WI001"},
        }
    ).encode()


def event_json(event_id: str = "evt-1", **data) -> str:
    """A NewWorkItemVersionComplete event naming no documents, as the JSON text a sender posts."""
    payload_data = {"workItemId": "wi-1", "workItemVersionId": "v-1", "documents": [], **data}
    return json.dumps({"eventId": event_id, "eventType": "NewWorkItemVersionComplete", "data": payload_data})


def delivery_make(
    source: Source | None,
    *,
    status: str = Delivery.Status.PROCESSED,
    event_id: str = "evt-1",
    age: timedelta = timedelta(0),
    **fields,
) -> Delivery:
    http_status = {"rejected": 400, "duplicate": 200}.get(status, 202)
    delivery = Delivery.objects.create(
        source=source,
        event_id=event_id,
        event_type="NewWorkItemVersionComplete",
        status=status,
        http_status=fields.pop("http_status", http_status),
        raw_body=fields.pop("raw_body", event_body(event_id)),
        **fields,
    )
    if age:
        Delivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - age)
        delivery.refresh_from_db()
    return delivery


def send(url: str, payload: dict, key: str, timeout: float = 10) -> requests.Response:
    """A webhook call over real HTTP, authenticated by a bearer token."""
    return requests.post(
        url,
        data=json.dumps(payload),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=timeout,
    )

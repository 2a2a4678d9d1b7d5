"""Rows as the intake and the sync leave them, for the operator tests."""

import hashlib
import json
import re
import struct
import zlib
from datetime import timedelta

from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from documents.models import Document, WorkItem, WorkItemVersion
from documents.storage import object_save_stream
from webhooks.models import Delivery, Source

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


def event_body(event_id: str = "evt-1", work_item_id: str = "wi-1", version_id: str = "v-1") -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "eventType": "NewWorkItemVersionComplete",
            "data": {"workItemId": work_item_id, "workItemVersionId": version_id, "workItemName": "WI001"},
        }
    ).encode()


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


def metric_samples(text: str) -> dict[tuple, float]:
    """Prometheus text as {(sample name, ((label, value), ...)): value}."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples: dict[tuple, float], name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)

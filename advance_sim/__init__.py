"""A simulated HotDocs Advance server for tests, fault injection, benchmarks and the demo."""

from .documents import SimDocument, document_bytes, document_chunks, document_sha256, document_size
from .sender import form_webhook_build, registration_url, send_form_webhook, without_event_names
from .server import RequestRecord, SimulatedAdvance, SimVersion, SimWorkItem, send_interview_call, send_webhook

__all__ = [
    "RequestRecord",
    "SimDocument",
    "SimVersion",
    "SimWorkItem",
    "SimulatedAdvance",
    "document_bytes",
    "document_chunks",
    "document_sha256",
    "document_size",
    "form_webhook_build",
    "registration_url",
    "send_form_webhook",
    "send_interview_call",
    "send_webhook",
    "without_event_names",
]

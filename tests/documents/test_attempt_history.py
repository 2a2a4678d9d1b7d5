"""The attempt history of a document, as the admin shows it: read-only, newest first."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from documents.models import Document, DocumentAttempt
from tests.factories import document_make, source_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def document() -> Document:
    return document_make(source_make("acme"), document_id="d-1", name="Lease", status=Document.Status.PENDING)


def test_document_page_lists_its_attempts_newest_first(admin_client, document):
    start = timezone.now() - timedelta(minutes=5)
    DocumentAttempt.objects.create(
        document=document,
        started_at=start,
        finished_at=start + timedelta(seconds=1),
        outcome=DocumentAttempt.Outcome.RETRY,
        http_status=503,
        bytes=0,
        error="Advance answered HTTP 503",
    )
    DocumentAttempt.objects.create(
        document=document,
        started_at=start + timedelta(minutes=1),
        finished_at=start + timedelta(minutes=1, seconds=2),
        outcome=DocumentAttempt.Outcome.STORED,
        http_status=200,
        bytes=123456,
    )

    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()

    assert "Sync attempts" in page
    assert page.index("Stored") < page.index("Will be retried")  # newest first
    assert "Advance answered HTTP 503" in page
    assert "123456" in page
    assert 'name="attempt_history-MAX_NUM_FORMS" value="0"' in page  # none added here: written by the sync only
    assert 'name="attempt_history-0-error"' not in page  # shown, not editable


def test_a_stale_duplicate_message_does_not_sync_a_document_waiting_out_its_backoff(document):
    from documents.sync import document_sync

    Document.objects.filter(pk=document.pk).update(due_at=timezone.now() + timedelta(minutes=2))

    document_sync(document_id=document.pk)

    document.refresh_from_db()
    assert (document.status, document.attempts) == (Document.Status.PENDING, 0)
    assert not DocumentAttempt.objects.filter(document=document).exists()

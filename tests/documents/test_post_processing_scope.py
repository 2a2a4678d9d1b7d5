"""The post-processing status call writes: a refusal by Advance (401 after a fresh log-in, 403) says
the API client needs the Command scope, and so do the source's pages."""

import pytest
from django.urls import reverse
from django.utils import timezone

from advance_sim.server import POST_PROCESSING_STATUS_PATH
from documents.models import WorkItemVersion
from documents.post_processing import version_post_processing_complete
from sources.models import SourceSync
from tests.factories import document_make

pytestmark = pytest.mark.django_db


def version_completing(advance, source) -> WorkItemVersion:
    """A version of a work item the simulated Advance has, whose status call is due; its call set."""
    work_item = advance.add_work_item()
    document = document_make(source, work_item_id=work_item.id, version_id=work_item.version_id)
    WorkItemVersion.objects.filter(pk=document.version_id).update(
        post_processing_status=WorkItemVersion.PostProcessing.COMPLETING, post_processing_due_at=timezone.now()
    )
    SourceSync.objects.create(source=source, post_processing_status_path=POST_PROCESSING_STATUS_PATH)
    return document.version


def test_a_status_call_refused_with_403_says_the_api_client_needs_the_command_scope(advance, source):
    version = version_completing(advance, source)
    advance.fail_next(1, 403, path_contains="/postassemblyprocessingstatus")

    version_post_processing_complete(version_id=version.pk)

    version.refresh_from_db()
    assert version.post_processing_status == WorkItemVersion.PostProcessing.FAILED
    assert "HTTP 403" in version.post_processing_error
    assert "needs the Command (or Root) scope" in version.post_processing_error
    assert advance.status_calls == []


def test_a_status_call_refused_with_401_after_a_fresh_log_in_names_the_command_scope(advance, source):
    version = version_completing(advance, source)
    advance.fail_next(2, 401, path_contains="/postassemblyprocessingstatus")

    version_post_processing_complete(version_id=version.pk, final_attempt=True)

    version.refresh_from_db()
    assert version.post_processing_status == WorkItemVersion.PostProcessing.FAILED
    assert "HTTP 401" in version.post_processing_error
    assert "needs the Command (or Root) scope" in version.post_processing_error


def test_the_source_and_sync_settings_pages_say_the_status_call_needs_the_command_scope(admin_client, source):
    pages = [
        reverse("admin:sources_source_change", args=[source.pk]),
        reverse("admin:sources_sourcesync_add") + f"?source={source.pk}",
    ]

    for page in pages:
        assert "needs the Command (or Root) scope" in admin_client.get(page).content.decode()

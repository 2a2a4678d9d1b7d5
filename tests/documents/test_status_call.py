"""The post-processing status call is never one that completes the version (it starts an assembly):
refused when the sync settings are saved, on their admin page, and again before the call is sent."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from advance_sim.server import POST_PROCESSING_STATUS_PATH
from documents.models import WorkItemVersion
from documents.post_processing import version_post_processing_complete
from sources.models import SourceSync
from tests.factories import document_make

pytestmark = pytest.mark.django_db

VERSION = "WorkItems/{workItemId}/Versions/{versionId}"
# "Completing a Work Item Version" (PUT .../Complete) and /CompleteSession, as an operator might
# type them or an attacker spell them so that a plain comparison misses them.
COMPLETING_PATHS = [
    f"{VERSION}/Complete",
    f"/{VERSION}/complete/",
    f"{VERSION}/COMPLETE",
    f"{VERSION}/Complete%20",
    f"{VERSION}/%43omplete",
    f"{VERSION}/%2543omplete",
    f"{VERSION}/Complete?x=1",
    f"{VERSION}/Complete#x",
    f"{VERSION}//Complete",
    f"{VERSION}/Complete//",
    f"{VERSION}/Complete%2F",
    f"{VERSION}/Complete;x=1",
    f"{VERSION}/Complete.",
    f"{VERSION}/Complete%00",
    f"{VERSION}/Complete/.",
    f"{VERSION}/x/../Complete",
    f"{VERSION}/Complete\\",
    f"{VERSION}/\uff23omplete",
    f"{VERSION}/CompleteSession",
    f"{VERSION}/completesession/",
    f"{VERSION}/Complete%53ession",
]
ALLOWED_PATHS = [
    POST_PROCESSING_STATUS_PATH,
    f"{VERSION}/PostAssemblyProcessing/Status",
    f"{VERSION}/Completed",
    f"{VERSION}/CompleteStatus?x=Complete",
]


def sync_with(source, path: str) -> SourceSync:
    return SourceSync(source=source, post_processing_status_path=path)


@pytest.mark.parametrize("path", COMPLETING_PATHS)
def test_a_status_path_that_completes_the_version_is_refused_by_the_sync_settings(source, path):
    with pytest.raises(ValidationError) as refused:
        sync_with(source, path).full_clean()

    [reason] = refused.value.message_dict["post_processing_status_path"]
    assert "Completing a Work Item Version" in reason
    assert "starts an assembly" in reason


@pytest.mark.parametrize("path", ALLOWED_PATHS)
def test_other_status_paths_are_saved(source, path):
    sync_with(source, path).full_clean()


def sync_form(path: str) -> dict:
    return {
        "post_processing_status_path": path,
        "post_processing_status_method": "PUT",
        "post_processing_status_body": '{"status": "Complete"}',
        "documents_scope": SourceSync.DocumentsScope.AUTO,
        "search_config": "",
        "reconcile_interval_minutes": "15",
        "reconcile_query": "filter=Completed&modifiedSince={since}",
        "reconcile_watermark_0": "",
        "reconcile_watermark_1": "",
    }


@pytest.mark.parametrize("path", COMPLETING_PATHS)
def test_the_sync_settings_page_refuses_a_completing_status_path_with_the_reason(admin_client, source, path):
    sync = SourceSync.objects.create(source=source)
    url = reverse("admin:sources_sourcesync_change", args=[sync.pk])

    response = admin_client.post(url, sync_form(path))

    assert response.status_code == 200  # the form again, with its error
    assert "starts an assembly" in response.content.decode()
    sync.refresh_from_db()
    assert sync.post_processing_status_path == ""


def test_the_sync_settings_page_saves_an_allowed_status_path(admin_client, source):
    sync = SourceSync.objects.create(source=source)
    url = reverse("admin:sources_sourcesync_change", args=[sync.pk])

    assert admin_client.post(url, sync_form(POST_PROCESSING_STATUS_PATH)).status_code == 302
    sync.refresh_from_db()
    assert sync.post_processing_status_path == POST_PROCESSING_STATUS_PATH


def version_completing(source, work_item_id: str, version_id: str) -> WorkItemVersion:
    document = document_make(source, work_item_id=work_item_id, version_id=version_id)
    WorkItemVersion.objects.filter(pk=document.version_id).update(
        post_processing_status=WorkItemVersion.PostProcessing.COMPLETING, post_processing_due_at=timezone.now()
    )
    return document.version


def status_path_saved(source, path: str) -> None:
    # As a row saved before the rule, or by an update that skips validation.
    SourceSync.objects.update_or_create(source=source, defaults={"post_processing_status_path": path})


@pytest.mark.parametrize("path", COMPLETING_PATHS)
def test_a_completing_status_path_already_saved_is_never_sent(advance, source, path):
    work_item = advance.add_work_item()
    version = version_completing(source, work_item.id, work_item.version_id)
    status_path_saved(source, path)

    version_post_processing_complete(version_id=version.pk)

    version.refresh_from_db()
    assert version.post_processing_status == WorkItemVersion.PostProcessing.FAILED
    assert "starts an assembly" in version.post_processing_error
    assert advance.requests == []  # not even a log-in

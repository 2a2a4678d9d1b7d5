"""The admin of synced documents and work items: lists, search, download, retry."""

from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from documents.models import Document
from sources.models import Source
from tests.factories import PDF_BYTES, document_make, download_url

# Lists and search --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_document_list_shows_work_item_version_size_and_a_download_link(admin_client, source):
    stored = document_make(source)
    failed = document_make(
        source, document_id="doc-2", name="Annex", status=Document.Status.FAILED, last_error="404 from Advance"
    )

    response = admin_client.get(reverse("admin:documents_document_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "WI001" in content and "v-1" in content
    assert "1.2\xa0KB" in content  # filesizeformat of 1234 bytes
    assert download_url(stored) in content
    assert download_url(failed) not in content
    assert "Failed" in content


@pytest.mark.django_db
def test_documents_are_found_by_work_item_name(admin_client, source):
    wanted = document_make(source, work_item_name="Lease for Hawthorne", work_item_id="wi-hawthorne", document_id="a")
    document_make(source, work_item_name="Employment contract", work_item_id="wi-jones", document_id="b")

    response = admin_client.get(reverse("admin:documents_document_changelist"), {"q": "hawthorne"})

    assert list(response.context["cl"].result_list) == [wanted]


@pytest.mark.django_db
def test_documents_are_found_by_sha256(admin_client, source):
    wanted = document_make(source, document_id="a")
    document_make(source, document_id="b")

    response = admin_client.get(reverse("admin:documents_document_changelist"), {"q": wanted.sha256})

    assert list(response.context["cl"].result_list) == [wanted]


@pytest.mark.django_db
def test_the_document_list_makes_as_many_queries_for_twenty_documents_as_for_one(
    admin_client, source, other_source, django_assert_max_num_queries
):
    url = reverse("admin:documents_document_changelist")
    document_make(source)
    with django_assert_max_num_queries(20) as one:
        assert admin_client.get(url).status_code == 200

    for number in range(19):
        document_make(
            other_source if number % 2 else source,
            work_item_name=f"Work item {number}",
            work_item_id=f"wi-{number}",
            version_id=f"v-{number}",
            document_id=f"doc-{number}",
            status=Document.Status.STORED if number % 3 else Document.Status.PENDING,
        )
    with django_assert_max_num_queries(len(one)) as twenty:
        response = admin_client.get(url)

    assert response.context["cl"].result_count == 20
    assert len(twenty) == len(one)


@pytest.mark.django_db
def test_documents_cannot_be_added_or_changed_by_hand(admin_client, source):
    document = document_make(source)

    assert admin_client.get(reverse("admin:documents_document_add")).status_code == 403
    response = admin_client.post(reverse("admin:documents_document_change", args=[document.pk]), {"name": "forged"})
    assert response.status_code == 403
    document.refresh_from_db()
    assert document.name == "Example Contract"
    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk]))
    assert page.status_code == 200
    assert document.sha256 in page.content.decode()
    assert download_url(document) in page.content.decode()


# Download ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_download_returns_the_stored_bytes_from_the_filesystem(admin_client, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)
    assert (filesystem_storage / document.storage_key).read_bytes() == PDF_BYTES

    response = admin_client.get(download_url(document))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Example Contract.pdf"'


@pytest.mark.django_db
def test_download_redirects_to_a_short_lived_s3_url(admin_client, source, bucket):
    document = document_make(source, content=PDF_BYTES)
    assert bucket.keys() == [document.storage_key]

    response = admin_client.get(download_url(document))

    assert response.status_code == 302
    location = response["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=" in location
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == PDF_BYTES
    assert "attachment" in fetched.headers.get("Content-Disposition", "")


@pytest.mark.django_db
def test_download_of_a_document_not_stored_is_not_found(admin_client, source, filesystem_storage):
    pending = document_make(source, status=Document.Status.PENDING)

    assert admin_client.get(download_url(pending)).status_code == 404
    assert admin_client.get(reverse("admin:documents_document_download", args=[pending.pk + 1000])).status_code == 404


@pytest.mark.django_db
def test_download_needs_the_permission_to_view_documents(client, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)
    staff = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(staff)

    assert client.get(download_url(document)).status_code == 403
    client.logout()
    response = client.get(download_url(document))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# Retry -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_action_queues_failed_documents_again(admin_client, source):
    failed = document_make(source, document_id="a", status=Document.Status.FAILED, last_error="refused")
    dead = document_make(source, document_id="b", status=Document.Status.DEAD, last_error="gave up")
    stored = document_make(source, document_id="c")

    response = admin_client.post(
        reverse("admin:documents_document_changelist"),
        {"action": "retry_documents", "_selected_action": [failed.pk, dead.pk, stored.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Queued 2 documents for another sync. Skipped 1" in response.content.decode()
    for document in (failed, dead):
        document.refresh_from_db()
        assert (document.status, document.last_error) == (Document.Status.PENDING, "")
    stored.refresh_from_db()
    assert stored.status == Document.Status.STORED


# Work items --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_work_item_list_counts_versions(admin_client, source):
    document_make(source, version_id="v-1")
    document_make(source, version_id="v-2")
    document_make(source, work_item_name="Other", work_item_id="wi-2", version_id="v-3")

    response = admin_client.get(reverse("admin:documents_workitem_changelist"))

    counts = {work_item.advance_id: work_item.version_count for work_item in response.context["cl"].result_list}
    assert counts == {"wi-1": 2, "wi-2": 1}


@pytest.mark.django_db
def test_the_work_item_page_shows_its_versions_and_documents_newest_first(admin_client, source):
    now = timezone.now()
    old = document_make(
        source, version_id="v-old", document_id="d-old", name="First draft", completed_at=now - timedelta(days=2)
    )
    new = document_make(source, version_id="v-new", document_id="d-new", name="Final", completed_at=now)
    pending = document_make(
        source, version_id="v-new", document_id="d-pending", name="Annex", status=Document.Status.PENDING
    )

    response = admin_client.get(reverse("admin:documents_workitem_change", args=[old.version.work_item_id]))

    assert response.status_code == 200
    content = response.content.decode()
    assert content.index("Final") < content.index("First draft")
    assert content.index("v-new") < content.index("v-old")
    assert download_url(new) in content and download_url(old) in content
    assert download_url(pending) not in content
    filtered = reverse("admin:documents_document_changelist") + f"?version__id__exact={new.version_id}"
    assert filtered in content
    listed = admin_client.get(filtered)
    assert {document.pk for document in listed.context["cl"].result_list} == {new.pk, pending.pk}


@pytest.mark.django_db
def test_the_version_page_is_read_only_and_lists_its_documents(admin_client, source):
    document = document_make(source)

    response = admin_client.get(reverse("admin:documents_workitemversion_change", args=[document.version_id]))

    assert response.status_code == 200
    assert download_url(document) in response.content.decode()
    assert b'name="_save"' not in response.content
    search = admin_client.get(reverse("admin:documents_workitemversion_changelist"), {"q": "john.smith"})
    assert list(search.context["cl"].result_list) == [document.version]


# Documents' actions and warning on the source's admin ---------------------------------------


@pytest.mark.django_db
def test_the_source_page_warns_until_a_post_processing_status_call_is_set(admin_client, source):
    from sources.models import SourceSync

    page_url = reverse("admin:sources_source_change", args=[source.pk])
    add_link = reverse("admin:sources_sourcesync_add") + f"?source={source.pk}"

    without_settings = admin_client.get(page_url).content.decode()
    sync = SourceSync.objects.create(source=source)
    without_call = admin_client.get(page_url).content.decode()
    sync.post_processing_status_path = "WorkItems/{workItemId}/Versions/{versionId}/PostProcessingStatus"
    sync.save()
    with_call = admin_client.get(page_url).content.decode()

    assert "No post-assembly processing status call is set" in without_settings
    assert f'<a href="{add_link.replace("&", "&amp;")}">Sync settings</a>' in without_settings
    change_link = reverse("admin:sources_sourcesync_change", args=[sync.pk])
    assert "No post-assembly processing status call is set" in without_call
    assert f'<a href="{change_link}">Sync settings</a>' in without_call
    assert "No post-assembly processing status call is set" not in with_call


@pytest.mark.django_db
def test_the_source_list_offers_documents_actions_without_the_source_admin_being_changed_in_place(admin_client, source):
    from django.contrib import admin

    source_admin = admin.site.get_model_admin(Source)

    page = admin_client.get(reverse("admin:sources_source_changelist")).content.decode()

    for action in ("recheck_refused", "source_test_connection", "source_reconcile_now"):
        assert f'value="{action}"' in page
    # Offered by SourceAdmin's own actions: nothing sets attributes on the registered instance.
    assert "actions" not in vars(source_admin) and "change_view" not in vars(source_admin)


@pytest.mark.django_db
def test_the_documents_actions_on_the_source_list_need_the_change_permission(client, source, advance):
    from django.contrib.auth.models import Permission

    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_source"))
    client.force_login(clerk)

    page = client.get(reverse("admin:sources_source_changelist")).content.decode()
    refused = client.post(
        reverse("admin:sources_source_changelist"),
        {"action": "source_test_connection", "_selected_action": [source.pk]},
        follow=True,
    )

    assert 'value="source_test_connection"' not in page and 'value="source_reconcile_now"' not in page
    assert refused.status_code == 200 and "logged in to Advance" not in refused.content.decode()
    assert advance.requests_for("/Authorize/ServicePrincipalLogIn") == []

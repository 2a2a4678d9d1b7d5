"""Every access to documents through the admin (real requests through Django's test client) is
recorded with exactly one row: who, when, from which address, which document or query, and the
answer; refusals too. One INSERT per access, no query per row of a list."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AccessRecord
from documents.models import DocumentText
from tests.factories import PDF_BYTES, document_make, download_url

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(admin_user)
    return client


def only_record() -> AccessRecord:
    records = list(AccessRecord.objects.all())
    assert len(records) == 1, records
    return records[0]


def assert_recorded(record: AccessRecord, *, user, action: str, document=None, status: int) -> None:
    assert record.user_id == user.pk and record.username == user.username
    assert record.address == ADDRESS
    assert record.action == action
    assert record.status == status
    if document is not None:
        assert record.document_id == document.pk
        assert record.document_name == str(document)
        assert record.source_id == document.source_id


def test_a_document_page_is_one_view_record(staff, admin_user, source):
    document = document_make(source)

    response = staff.get(reverse("admin:documents_document_change", args=[document.pk]))

    assert response.status_code == 200
    assert_recorded(only_record(), user=admin_user, action="view", document=document, status=200)


def test_a_download_from_the_filesystem_is_one_record_of_the_file_served(staff, admin_user, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)

    response = staff.get(download_url(document))

    assert b"".join(response.streaming_content) == PDF_BYTES
    record = only_record()
    assert_recorded(record, user=admin_user, action="download", document=document, status=200)
    assert record.detail == "file served"


def test_a_download_from_s3_records_the_presigned_url_handed_out(staff, admin_user, source, bucket):
    document = document_make(source, content=PDF_BYTES)

    response = staff.get(download_url(document))

    assert response.status_code == 302 and "X-Amz-Signature" in response["Location"]
    record = only_record()
    assert_recorded(record, user=admin_user, action="download", document=document, status=302)
    assert record.detail.startswith("presigned URL handed out")
    # The URL itself is a credential for its lifetime: it is not kept.
    assert response["Location"] not in str(AccessRecord.objects.values().get())


def test_a_preview_is_one_preview_record(staff, admin_user, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)

    response = staff.get(download_url(document) + "?inline=1")

    assert response.status_code == 200
    assert_recorded(only_record(), user=admin_user, action="preview", document=document, status=200)


def test_the_text_view_is_one_text_record(staff, admin_user, source):
    document = document_make(source)
    DocumentText.objects.create(document=document, status=DocumentText.Status.EXTRACTED, text="forty crates")

    response = staff.get(reverse("admin:documents_document_text", args=[document.pk]))

    assert response.content.decode() == "forty crates"
    assert response["Content-Type"].startswith("text/plain")
    record = only_record()
    assert_recorded(record, user=admin_user, action="text", document=document, status=200)
    assert record.detail == "12 characters"


def test_the_csv_export_of_a_list_is_one_record_of_its_filters(staff, admin_user, source):
    document_make(source)

    response = staff.get(reverse("admin:documents_document_export"), {"status__exact": "stored"})

    assert b"".join(response.streaming_content).count(b"\n") == 2
    record = only_record()
    assert_recorded(record, user=admin_user, action="export", status=200)
    assert record.query == "status__exact=stored" and record.document_id is None


def test_the_export_of_selected_documents_records_which(staff, admin_user, source):
    one, two = document_make(source, document_id="a"), document_make(source, document_id="b")

    response = staff.post(
        reverse("admin:documents_document_changelist"),
        {"action": "export_csv", "_selected_action": [one.pk, two.pk], "index": 0},
    )

    assert b"".join(response.streaming_content).count(b"\n") == 3
    record = only_record()
    assert_recorded(record, user=admin_user, action="export", status=200)
    assert record.count == 2 and set(record.query.removeprefix("selected: ").split(", ")) == {
        str(one.pk),
        str(two.pk),
    }


@pytest.mark.parametrize("model", ["document", "workitem"])
def test_a_search_is_one_record_of_the_term_and_how_many_were_found(staff, admin_user, source, model):
    document_make(source, name="Saffron lease", work_item_name="Saffron matter")
    document_make(source, document_id="b", work_item_id="wi-2", version_id="v-2", name="Other")

    response = staff.get(reverse(f"admin:documents_{model}_changelist"), {"q": "saffron"})

    assert response.status_code == 200
    record = only_record()
    assert_recorded(record, user=admin_user, action="search", status=200)
    assert record.query == "saffron" and record.count == 1


def test_a_list_without_a_search_is_not_recorded(staff, source):
    document_make(source)

    staff.get(reverse("admin:documents_document_changelist"))

    assert not AccessRecord.objects.exists()


def test_a_missing_document_is_recorded_with_the_id_asked_for(staff, admin_user, source):
    staff.raise_request_exception = False

    page = staff.get(reverse("admin:documents_document_change", args=[987654]))
    download = staff.get(reverse("admin:documents_document_download", args=[987655]))

    assert (page.status_code, download.status_code) == (302, 404)
    records = {record.action: record for record in AccessRecord.objects.all()}
    assert (records["view"].document_id, records["view"].status, records["view"].detail) == (
        987654,
        302,
        "no such document",
    )
    assert (records["download"].document_id, records["download"].status) == (987655, 404)


def test_a_refused_download_is_recorded_as_refused(source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)
    user = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client = Client(REMOTE_ADDR=ADDRESS, raise_request_exception=False)
    client.force_login(user)

    response = client.get(download_url(document))

    assert response.status_code == 403
    record = only_record()
    assert (record.username, record.action, record.status, record.document_id) == (
        "clerk",
        "download",
        403,
        document.pk,
    )


def test_the_address_behind_a_trusted_proxy_is_the_one_the_proxy_saw(settings, admin_user, source):
    settings.WEBHOOK_TRUSTED_PROXIES = 1
    document = document_make(source)
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4")
    client.force_login(admin_user)

    client.get(reverse("admin:documents_document_change", args=[document.pk]))

    assert only_record().address == "198.51.100.4"


def test_recording_costs_one_insert_and_no_other_query(staff, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)
    staff.get(download_url(document))  # the session and the user, read once per request anyway

    with CaptureQueriesContext(connection) as queries:
        staff.get(download_url(document))

    inserts = [query["sql"] for query in queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "audit_accessrecord" in inserts[0]
    assert not [query for query in queries if "audit_" in query["sql"] and not query["sql"].startswith("INSERT")]


def test_a_document_page_shows_its_recent_accesses_to_who_may_read_the_audit(staff, source):
    document = document_make(source)
    for _ in range(25):
        AccessRecord.objects.create(action="download", document_id=document.pk, username="ann", status=200)
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="view_document"))
    clerk_client = Client()
    clerk_client.force_login(clerk)
    url = reverse("admin:documents_document_change", args=[document.pk])

    page = staff.get(url).content.decode()
    clerk_page = clerk_client.get(url).content.decode()

    assert "Recent accesses" in page and page.count("<td>ann</td>") == 19  # the 20 latest, this view first
    assert f"?document={document.pk}" in page
    assert "Recent accesses" not in clerk_page


def test_the_documents_list_costs_the_same_queries_for_thirty_rows_as_for_one(staff, source):
    document_make(source)
    url = reverse("admin:documents_document_changelist")
    with CaptureQueriesContext(connection) as one:
        staff.get(url, {"q": "Example"})
    for n in range(29):
        document_make(source, document_id=f"d{n}")
    with CaptureQueriesContext(connection) as thirty:
        staff.get(url, {"q": "Example"})

    assert len(thirty) == len(one)
    assert AccessRecord.objects.filter(action="search").count() == 2

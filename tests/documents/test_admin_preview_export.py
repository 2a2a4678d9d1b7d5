"""The documents admin for operators: the list's columns and filters, the preview, other versions, CSV export."""

import csv
import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from documents.models import Document
from tests.factories import PDF_BYTES, PNG_BYTES, document_make, download_url

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# The list ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_a_short_type_a_human_size_and_the_version(admin_client, source):
    document_make(source, name="Lease", content_type=DOCX, extension="docx", size=2_500_000)

    response = admin_client.get(reverse("admin:documents_document_changelist"))

    content = response.content.decode()
    assert ">DOCX<" in content and f'title="{DOCX}"' in content
    assert "2.4\xa0MB" in content
    assert "v-1" in content and "WI001" in content


@pytest.mark.django_db
def test_documents_are_filtered_by_content_type_and_status_and_found_by_user_login(admin_client, source):
    pdf = document_make(source, document_id="a")
    docx = document_make(source, document_id="b", content_type=DOCX, extension="docx")
    other_user = document_make(source, work_item_id="wi-2", version_id="v-2", document_id="c", login="ann@example.com")
    failed = document_make(source, document_id="d", status=Document.Status.FAILED)
    url = reverse("admin:documents_document_changelist")

    by_type = admin_client.get(url, {"content_type": DOCX})
    by_status = admin_client.get(url, {"status__exact": "failed"})
    by_login = admin_client.get(url, {"q": "ann@example"})
    by_work_item_id = admin_client.get(url, {"q": "wi-2"})

    assert list(by_type.context["cl"].result_list) == [docx]
    assert list(by_status.context["cl"].result_list) == [failed]
    assert list(by_login.context["cl"].result_list) == [other_user]
    assert list(by_work_item_id.context["cl"].result_list) == [other_user]
    assert pdf.pk not in {d.pk for d in by_login.context["cl"].result_list}


# The document page -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_of_a_pdf_previews_it_in_a_frame_fed_by_the_download_view(admin_client, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)

    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()

    assert f'<iframe src="{download_url(document)}?inline=1"' in page
    assert f'href="{download_url(document)}"' in page


@pytest.mark.django_db
def test_the_page_of_an_image_previews_it_as_an_image(admin_client, source, filesystem_storage):
    document = document_make(source, content=PNG_BYTES, content_type="image/png", extension="png")

    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()

    assert f'<img src="{download_url(document)}?inline=1"' in page


@pytest.mark.django_db
def test_inline_serves_a_pdf_for_display_in_a_frame_of_our_own_pages(admin_client, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)

    response = admin_client.get(download_url(document) + "?inline=1")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    # The download itself stays an attachment that no page may frame.
    download = admin_client.get(download_url(document))
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_inline_never_displays_a_type_that_could_run_in_our_origin(admin_client, source, filesystem_storage):
    document = document_make(source, content=b"<script>alert(1)</script>", content_type="text/html", extension="html")

    response = admin_client.get(download_url(document) + "?inline=1")
    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()

    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Frame-Options"] == "DENY"
    assert "?inline=1" not in page
    assert "No preview for this type" in page


@pytest.mark.django_db
def test_inline_needs_the_same_permission_as_the_download(client, source, filesystem_storage):
    document = document_make(source, content=PDF_BYTES)
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)

    assert client.get(download_url(document) + "?inline=1").status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_document"))
    assert client.get(download_url(document) + "?inline=1").status_code == 200


@pytest.mark.django_db
def test_inline_on_s3_is_a_short_lived_url_that_displays(admin_client, source, bucket):
    document = document_make(source, content=PDF_BYTES)

    response = admin_client.get(download_url(document) + "?inline=1")

    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["response-content-disposition"][0].startswith("inline")
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.content == PDF_BYTES
    assert fetched.headers["Content-Disposition"].startswith("inline")
    assert fetched.headers["Content-Type"] == "application/pdf"


@pytest.mark.django_db
def test_the_page_lists_the_other_versions_of_the_same_document_with_links(admin_client, source):
    now = timezone.now()
    old = document_make(source, version_id="v-old", document_id="x-old", completed_at=now - timedelta(days=3))
    middle = document_make(source, version_id="v-mid", document_id="x-mid", completed_at=now - timedelta(days=1))
    current = document_make(source, version_id="v-new", document_id="x-new", completed_at=now)
    same_id = document_make(source, version_id="v-renamed", document_id="x-new", name="Renamed", completed_at=now)
    unrelated = document_make(source, version_id="v-new", document_id="annex", name="Annex")
    elsewhere = document_make(source, work_item_id="wi-other", version_id="v-9", document_id="x-9")

    response = admin_client.get(reverse("admin:documents_document_change", args=[current.pk]))

    page = response.content.decode()
    links = [reverse("admin:documents_document_change", args=[d.pk]) for d in (same_id, middle, old)]
    for link in links:
        assert f'href="{link}"' in page
    assert page.index(links[1]) < page.index(links[2])  # newest version first
    for absent in (unrelated, elsewhere):
        assert f'href="{reverse("admin:documents_document_change", args=[absent.pk])}"' not in page


# CSV export --------------------------------------------------------------------------------


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_the_export_action_streams_the_selected_documents_as_csv(admin_client, source):
    chosen = document_make(source, document_id="a", name='=HYPERLINK("http://evil")')
    document_make(source, document_id="b")

    response = admin_client.post(
        reverse("admin:documents_document_changelist"), {"action": "export_csv", "_selected_action": [chosen.pk]}
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="documents-')
    [row] = csv_rows(response)
    assert row["id"] == str(chosen.pk)
    assert row["work item name"] == "WI001"
    assert row["sha256"] == chosen.sha256
    assert row["size"] == "1234"
    assert row["name"] == '\'=HYPERLINK("http://evil")'  # never a formula in a spreadsheet


@pytest.mark.django_db
def test_the_export_link_streams_the_filtered_list(admin_client, source):
    failed = document_make(source, document_id="a", status=Document.Status.FAILED, last_error="404")
    document_make(source, document_id="b")
    changelist = admin_client.get(reverse("admin:documents_document_changelist"), {"status__exact": "failed"})
    export_url = reverse("admin:documents_document_export") + "?status__exact=failed"
    assert export_url in changelist.content.decode()

    rows = csv_rows(admin_client.get(export_url))

    assert [row["id"] for row in rows] == [str(failed.pk)]
    assert rows[0]["status"] == "failed" and rows[0]["last error"] == "404"


@pytest.mark.django_db
def test_the_export_needs_the_view_permission(client, source):
    document_make(source)
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)

    assert client.get(reverse("admin:documents_document_export")).status_code == 403


def test_the_url_an_event_gave_is_shown_as_text_never_as_a_link(admin_client, source):
    # A payload URL is the sender's to choose, and one a browser reads as another host than our
    # client does (a backslash before "@") would send a staff member's click there.
    url = "http://127.0.0.1:9\\@acme.example.com/api/rest/v1.1/WorkItems/wi-1/Documents/doc-1/Content"
    document = document_make(source, status=Document.Status.FAILED, url=url)

    page = admin_client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()

    assert "127.0.0.1:9\\@acme.example.com" in page
    assert 'href="http://127.0.0.1:9' not in page

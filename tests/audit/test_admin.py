"""The access audit in the admin: filtered by user, document, source and time, exported as CSV
(streamed), readable only with its view permission."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AccessRecord
from tests.factories import document_make, source_make

pytestmark = pytest.mark.django_db

URL = "/admin/audit/accessrecord/"


@pytest.fixture
def log(source, admin_user):
    ann = get_user_model().objects.create_user("ann", is_staff=True)
    bob = get_user_model().objects.create_user("bob", is_staff=True)
    other = source_make("globex")
    acme_doc = document_make(source)
    globex_doc = document_make(other, document_id="g")
    old = timezone.now() - timedelta(days=40)
    rows = {
        "ann-acme": AccessRecord.objects.create(
            user=ann,
            username="ann",
            action="view",
            document=acme_doc,
            document_name=str(acme_doc),
            source=source,
            status=200,
        ),
        "bob-globex": AccessRecord.objects.create(
            user=bob, username="bob", action="download", document=globex_doc, source=other, status=302
        ),
        "ann-old": AccessRecord.objects.create(
            user=ann, username="ann", action="search", query="=cmd|' /C calc'!A0", status=200, at=old
        ),
    }
    return rows, ann, source, acme_doc


def listed(client: Client, **params) -> set[int]:
    response = client.get(URL, params)
    assert response.status_code == 200
    return {record.pk for record in response.context["cl"].result_list}


def test_the_list_is_filtered_by_user_document_source_and_time(admin_client, log):
    rows, ann, source, acme_doc = log

    assert listed(admin_client, user__id__exact=ann.pk) == {rows["ann-acme"].pk, rows["ann-old"].pk}
    assert listed(admin_client, document=acme_doc.pk) == {rows["ann-acme"].pk}
    assert listed(admin_client, source__id__exact=source.pk) == {rows["ann-acme"].pk}
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert listed(admin_client, at__gte=since) == {rows["ann-acme"].pk, rows["bob-globex"].pk}


def test_the_csv_export_streams_the_list_as_filtered(admin_client, log):
    rows, ann, *_ = log

    response = admin_client.get(URL + "export/", {"user__id__exact": ann.pk})

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["user"], row["action"]) for row in table] == [("ann", "search"), ("ann", "view")]  # oldest first
    assert table[0]["query"].startswith("'=")  # never a formula to a spreadsheet
    assert table[1]["source"] == "acme" and table[1]["document"] == "Example Contract.pdf"


def test_the_list_page_links_its_export_with_its_filters(admin_client, log):
    page = admin_client.get(URL, {"action__exact": "view"}).content.decode()

    assert 'href="/admin/audit/accessrecord/export/?action__exact=view"' in page


def test_staff_need_the_view_permission_to_read_or_export_it(log):
    clerk = get_user_model().objects.create_user("clerk", is_staff=True)
    client = Client()
    client.force_login(clerk)

    assert client.get(URL).status_code == 403
    assert client.get(URL + "export/").status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_accessrecord"))
    assert client.get(URL).status_code == 200


def test_the_list_costs_the_same_queries_for_thirty_rows_as_for_one(admin_client, log):
    with CaptureQueriesContext(connection) as three:
        admin_client.get(URL)
    _, ann, source, acme_doc = log
    for _ in range(27):
        AccessRecord.objects.create(
            user=ann, username="ann", action="view", document=acme_doc, source=source, status=200
        )
    with CaptureQueriesContext(connection) as thirty:
        admin_client.get(URL)

    assert len(thirty) == len(three)

"""The dashboard on the admin's index page: counts, the 30-day chart, the latest failures, in few queries."""

import re
from datetime import date, timedelta

import pytest
from celery.app.control import Control
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.queues import queues_reading_forget
from documents.charts import daily_bars_svg
from documents.models import Document
from documents.selectors import dashboard_figures, documents_per_day
from tests.factories import delivery_make, document_make
from tests.support.processes import BASE_DIR
from webhooks.models import Delivery


def figure(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', page)
    assert match, f"no figure {name}"
    return match.group(1)


def make_history(source) -> dict[str, Document]:
    now = timezone.now()
    made = {
        "today": document_make(source, document_id="t1"),
        "today2": document_make(source, document_id="t2"),
        "three_days": document_make(source, document_id="d3"),
        "ten_days": document_make(source, document_id="d10"),
        "pending_old": document_make(source, document_id="p1", status=Document.Status.PENDING),
        "pending_new": document_make(source, document_id="p2", status=Document.Status.PENDING),
        "syncing": document_make(source, document_id="s1", status=Document.Status.SYNCING),
        "failed": document_make(source, document_id="f1", status=Document.Status.FAILED, last_error="HTTP 404"),
        "dead": document_make(source, document_id="x1", status=Document.Status.DEAD, last_error="gave up"),
    }
    Document.objects.filter(pk=made["three_days"].pk).update(synced_at=now - timedelta(days=3))
    Document.objects.filter(pk=made["ten_days"].pk).update(synced_at=now - timedelta(days=10))
    Document.objects.filter(pk=made["pending_old"].pk).update(created_at=now - timedelta(hours=5))
    Document.objects.filter(pk=made["dead"].pk).update(updated_at=now - timedelta(days=2))
    return made


@pytest.mark.django_db
def test_the_figures_count_synced_pending_failed_and_dead(source):
    made = make_history(source)
    delivery_make(source, status=Delivery.Status.FAILED, event_id="bad")

    figures = dashboard_figures()

    assert (figures.synced_today, figures.synced_week) == (2, 3)
    assert (figures.pending, figures.syncing, figures.waiting) == (2, 1, 3)
    assert (figures.failed, figures.dead, figures.events_failed) == (1, 1, 1)
    assert figures.oldest_pending_at == Document.objects.get(pk=made["pending_old"].pk).created_at


@pytest.mark.django_db
def test_the_days_count_synced_and_failed_documents_on_the_day_it_happened(source):
    make_history(source)

    days = documents_per_day(days=30)

    today = timezone.localdate()
    by_day = {day.day: day for day in days}
    assert len(days) == 30 and days[-1].day == today and days[0].day == today - timedelta(days=29)
    assert (by_day[today].synced, by_day[today].failed) == (2, 1)
    assert by_day[today - timedelta(days=3)].synced == 1
    assert by_day[today - timedelta(days=10)].synced == 1
    assert by_day[today - timedelta(days=2)].failed == 1
    assert sum(day.synced for day in days) == 4 and sum(day.failed for day in days) == 2


def test_the_chart_is_an_svg_drawn_here_with_a_bar_per_count():
    today = timezone.localdate()
    from documents.selectors import DayCount

    days = [DayCount(day=today - timedelta(days=2 - n), synced=n * 3, failed=n % 2) for n in range(3)]

    svg = str(daily_bars_svg(days))

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 2 + 3  # two legend swatches, two synced bars, one failed bar
    assert f"<title>{today.isoformat()}: 6 synced</title>" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing fetched


def test_the_chart_is_drawn_exactly_as_before_for_a_varied_fortnight():
    # The SVG of the chart as first drawn (tests/data), so that reshaping its code changes no pixel.
    from documents.selectors import DayCount

    first = date(2026, 3, 1)
    counts = [(0, 0), (3, 0), (12, 1), (0, 2), (7, 0), (48, 5), (1, 1), (0, 0), (9, 0), (2, 13), (30, 0), (4, 4)]
    days = [DayCount(day=first + timedelta(days=n), synced=s, failed=f) for n, (s, f) in enumerate(counts)]

    svg = str(daily_bars_svg(days))

    assert svg == (BASE_DIR / "tests" / "data" / "daily_bars_12_days.svg").read_text()


@pytest.mark.django_db
def test_the_admin_index_shows_the_dashboard_with_links_to_the_failures(admin_client, source):
    made = make_history(source)

    response = admin_client.get(reverse("admin:index"))

    page = response.content.decode()
    assert figure(page, "synced-today") == "2"
    assert figure(page, "synced-week") == "3"
    assert figure(page, "pending") == "3"
    assert figure(page, "failed") == "1"
    assert figure(page, "dead") == "1"
    assert figure(page, "oldest-pending").startswith("5 h")
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="operator-chart"' in page
    for document in (made["failed"], made["dead"]):
        assert reverse("admin:documents_document_change", args=[document.pk]) in page
    assert page.index("HTTP 404") < page.index("gave up")  # latest failure first
    assert reverse("admin:documents_document_changelist") + "?status__exact=failed" in page
    assert "Site administration" in page or "app-documents" in page  # the app list is still there


@pytest.mark.django_db
def test_the_dashboard_makes_the_same_queries_for_many_documents_as_for_few(admin_client, source):
    document_make(source)
    admin_client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse("admin:index"))
    for number in range(40):
        status = [Document.Status.STORED, Document.Status.FAILED, Document.Status.PENDING][number % 3]
        document_make(source, work_item_id=f"wi-{number}", version_id=f"v-{number}", document_id="d", status=status)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(reverse("admin:index"))

    assert len(many) == len(few)


@pytest.mark.django_db
def test_staff_who_may_not_view_documents_see_no_dashboard(client, source):
    make_history(source)
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert "operator-dashboard" not in response.content.decode()


@pytest.mark.django_db
def test_the_queues_panel_asks_the_workers_once_for_many_page_loads(admin_client, source, monkeypatch):
    queues_reading_forget()
    broadcasts = []
    broadcast = Control.broadcast

    def counted(self, command, *args, **kwargs):
        broadcasts.append(command)
        return broadcast(self, command, *args, **kwargs)  # the real broadcast, only counted

    monkeypatch.setattr(Control, "broadcast", counted)

    pages = [admin_client.get(reverse("admin:index")).content.decode() for _ in range(5)]
    readiness = admin_client.get("/readyz/queues")

    assert broadcasts == ["active_queues"]
    for page in pages:
        assert '<table id="queues">' in page and 'data-queue="documents"' in page
    assert "documents" in readiness.json()["queues"]  # the probe shares the page's reading

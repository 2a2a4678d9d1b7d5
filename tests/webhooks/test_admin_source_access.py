"""Access by source in the admin: a staff user granted *manage* (the most a grant gives) on source A
tries every page and action of the admin on source B's objects.

Every object URL of B answers exactly as the same URL with an id that does not exist (status and
redirect), no page shows anything of B (lists, searches, filters, exports, the dashboard,
autocomplete), and no action changes B's rows. The table is checked against every URL the admin
site has, so that a new page cannot be forgotten. Then: the levels, the dashboard's figures per
user, the grants' page and model permissions.
"""

import re
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import resolve

from audit.models import AccessRecord, ChangeRecord
from documents.models import Document, WorkItemVersion
from interviews.models import AnswerProvider
from sources.access import source_scope
from sources.admin_guards import SourceGuardsMixin
from sources.models import Source, SourceAccess, SourceSync
from sources.services import source_access_grant
from tests.factories import PDF_BYTES, delivery_make, document_make, document_text_indexed, source_make
from tests.support.admin_urls import admin_url_names
from webhooks.models import Delivery, WebhookToken
from webhooks.services import token_issue

pytestmark = pytest.mark.django_db

MISSING = 987654
# Everything of source B carries this mark: a page that shows it leaks B.
MARK = "zyxbeta"
SEARCHED = MARK[:4]  # what a search box shows again is not the mark; what it finds of B would be


@dataclass
class Tenancy:
    source: Source
    token: WebhookToken
    failed: Delivery
    document: Document
    failed_document: Document
    version: WorkItemVersion
    sync: SourceSync
    provider: AnswerProvider
    grant: SourceAccess

    def objects(self) -> dict[str, int]:
        return {
            "sources/source": self.source.pk,
            "webhooks/webhooktoken": self.token.pk,
            "webhooks/delivery": self.failed.pk,
            "documents/document": self.document.pk,
            "documents/workitem": self.version.work_item_id,
            "documents/workitemversion": self.version.pk,
            "sources/sourcesync": self.sync.pk,
            "interviews/answerprovider": self.provider.pk,
            "sources/sourceaccess": self.grant.pk,
        }


def tenancy_make(slug: str, name: str, grantee_group: Group) -> Tenancy:
    source = source_make(slug, name=f"{name} tenancy")
    token, _ = token_issue(source=source, name=f"{name} token")
    failed = delivery_make(source, status=Delivery.Status.FAILED, event_id=f"{name}-event")
    document = document_make(
        source, content=PDF_BYTES, name=f"{name} contract", work_item_name=f"{name} matter", login=f"{name}@example.com"
    )
    document_text_indexed(document, f"forty crates of saffron {name}")
    failed_document = document_make(
        source, document_id="doc-2", status=Document.Status.FAILED, name=f"{name} failed", last_error=f"{name} error"
    )
    sync = SourceSync.objects.create(source=source, reconcile_query=f"filter={name}")
    provider = AnswerProvider.objects.create(
        source=source, event_type="CustomInterviewEvent", event_name=f"{name}Event", answer_json="{}"
    )
    source_access_grant(source=source, group=grantee_group, level=SourceAccess.Level.VIEW)
    grant = SourceAccess.objects.get(source=source, group=grantee_group)
    return Tenancy(source, token, failed, document, failed_document, document.version, sync, provider, grant)


@dataclass
class World:
    a: Tenancy
    b: Tenancy
    sourceless: Delivery
    user: object

    def b_state(self) -> dict:
        """What an action on B could change."""
        b = self.b.source
        return {
            "tokens": list(
                WebhookToken.objects.filter(source=b).order_by("pk").values_list("pk", "revoked_at", "expires_at")
            ),
            "deliveries": list(
                Delivery.objects.filter(source=b).order_by("pk").values_list("pk", "status", "attempts")
            ),
            "documents": list(Document.objects.filter(source=b).order_by("pk").values_list("pk", "status", "due_at")),
            "versions": list(
                WorkItemVersion.objects.filter(work_item__source=b).values_list("pk", "post_processing_status")
            ),
            "source": list(Source.objects.filter(pk=b.pk).values_list("updated_at", "slug", "name")),
            "sync": list(SourceSync.objects.filter(source=b).values_list("pk", "reconcile_query")),
            "providers": list(AnswerProvider.objects.filter(source=b).values_list("pk", "answer_json")),
            "grants": list(SourceAccess.objects.filter(source=b).values_list("pk", "level")),
            "sourceless": list(Delivery.objects.filter(source=None).values_list("pk", "status")),
        }


@pytest.fixture
def world(filesystem_storage) -> World:
    clerks = Group.objects.create(name="clerks")
    a = tenancy_make("acme", "Acme", clerks)
    b = tenancy_make(MARK, MARK, clerks)
    sourceless = delivery_make(None, status=Delivery.Status.REJECTED, event_id=f"{MARK}-refused")
    user = get_user_model().objects.create_user("ann", password="ann-password-3f1c", is_staff=True)
    source_access_grant(source=a.source, user=user, level=SourceAccess.Level.MANAGE)
    return World(a, b, sourceless, user)


def client_of(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# The table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRow:
    """One URL of one object, tried with B's id and with an id that does not exist."""

    label: str
    method: str
    path: str  # with {pk}
    data: dict | None = None


@dataclass(frozen=True)
class PageRow:
    """A URL of no object (a list, a search, an export, an add page, an action): nothing of B shows."""

    label: str
    method: str
    path: str
    data: dict | None = None


def object_rows(world: World) -> list[ObjectRow]:
    rows = []
    for model in world.b.objects():
        base = f"/admin/{model}/{{pk}}/"
        rows += [
            ObjectRow(f"{model} page", "GET", f"{base}change/"),
            ObjectRow(f"{model} page posted", "POST", f"{base}change/", {"name": "changed", "level": "manage"}),
            ObjectRow(f"{model} history", "GET", f"{base}history/"),
            ObjectRow(f"{model} delete", "GET", f"{base}delete/"),
            ObjectRow(f"{model} delete posted", "POST", f"{base}delete/", {"post": "yes"}),
            ObjectRow(f"{model} bare id", "GET", base),
        ]
    rows += [
        ObjectRow("document download", "GET", "/admin/documents/document/{pk}/download/"),
        ObjectRow("document preview", "GET", "/admin/documents/document/{pk}/download/?inline=1"),
        ObjectRow("adopt scheme", "POST", "/admin/webhooks/delivery/{pk}/adopt-scheme/", {"scheme": 0}),
        ObjectRow("document text", "GET", "/admin/documents/document/{pk}/text/"),
        ObjectRow("work item compare", "GET", "/admin/documents/workitem/{pk}/compare/"),
        ObjectRow("work item compare as text", "GET", "/admin/documents/workitem/{pk}/compare.txt"),
        ObjectRow("work item hold", "GET", "/admin/documents/workitem/{pk}/hold/"),
        ObjectRow("work item hold posted", "POST", "/admin/documents/workitem/{pk}/hold/", {"reason": "x"}),
    ]
    return rows


def object_pk(world: World, tenancy: Tenancy, row: ObjectRow) -> int:
    if row.path.startswith("/admin/webhooks/delivery/{pk}/adopt"):
        return tenancy.failed.pk
    model = "/".join(row.path.split("/")[2:4])
    return tenancy.objects()[model]


ACTIONS = [
    ("sources/source", "source", ["recheck_refused", "source_test_connection", "source_reconcile_now"]),
    ("webhooks/webhooktoken", "token", ["revoke_tokens", "tokens_rotate"]),
    ("webhooks/delivery", "failed", ["replay_deliveries", "replay_failed_since"]),
    ("documents/document", "failed_document", ["retry_documents", "export_csv"]),
    ("documents/workitemversion", "version", ["retry_post_processing"]),
    ("interviews/answerprovider", "provider", ["delete_selected"]),
    ("sources/sourceaccess", "grant", ["delete_selected"]),
]


def page_rows(world: World) -> list[PageRow]:
    b = world.b
    rows = [
        PageRow("dashboard", "GET", "/admin/"),
        PageRow("jsi18n", "GET", "/admin/jsi18n/"),
        PageRow("own password", "GET", "/admin/password_change/"),
        PageRow("own password done", "GET", "/admin/password_change/done/"),
        PageRow(
            "autocomplete", "GET", "/admin/autocomplete/?app_label=webhooks&model_name=webhooktoken&field_name=source"
        ),
        PageRow("view on site", "GET", f"/admin/r/1/{b.document.pk}/"),
        PageRow("replay failed since", "GET", "/admin/webhooks/delivery/replay-failed/?since=2000-01-01T00:00"),
        PageRow(
            "replay failed since, B chosen",
            "POST",
            "/admin/webhooks/delivery/replay-failed/",
            {"since": "2000-01-01T00:00", "source": b.source.pk, "_replay": "1"},
        ),
        PageRow(
            "replay failed since, all",
            "POST",
            "/admin/webhooks/delivery/replay-failed/",
            {"since": "2000-01-01T00:00", "source": "", "_replay": "1"},
        ),
        PageRow("export", "GET", "/admin/documents/document/export/"),
        PageRow("export searched", "GET", f"/admin/documents/document/export/?q={SEARCHED}"),
        PageRow("search by text", "GET", "/admin/documents/document/?q=saffron"),
        PageRow("documents of B's version", "GET", f"/admin/documents/document/?version__id__exact={b.version.pk}"),
        PageRow("documents of source B", "GET", f"/admin/documents/document/?source__id__exact={b.source.pk}"),
        PageRow(
            "token add for B", "POST", "/admin/webhooks/webhooktoken/add/", {"name": "new token", "source": b.source.pk}
        ),
        PageRow("sync add for B", "GET", f"/admin/sources/sourcesync/add/?source={b.source.pk}"),
        PageRow(
            "provider add for B",
            "POST",
            "/admin/interviews/answerprovider/add/",
            {"source": b.source.pk, "event_type": "InterviewLoadEvent", "kind": "stored", "answer_json": "{}"},
        ),
        PageRow(
            "grant add on B",
            "POST",
            "/admin/sources/sourceaccess/add/",
            {"source": b.source.pk, "user": world.user.pk, "level": "manage"},
        ),
    ]
    for app in ("sources", "webhooks", "documents", "interviews", "auth", "audit"):
        rows.append(PageRow(f"app {app}", "GET", f"/admin/{app}/"))
    # The audit log is its own permission's, over every source (docs/audit.md): a grant opens none of it.
    b_access = AccessRecord.objects.create(
        action=AccessRecord.Action.VIEW, document_id=b.document.pk, source_id=b.source.pk, status=200
    )
    b_change = ChangeRecord.objects.filter(source_id=b.source.pk).order_by("pk").first()
    for model, pk in (("audit/accessrecord", b_access.pk), ("audit/changerecord", b_change.pk)):
        rows += [
            PageRow(f"{model} list", "GET", f"/admin/{model}/"),
            PageRow(f"{model} search", "GET", f"/admin/{model}/?q={SEARCHED}"),
            PageRow(f"{model} add", "GET", f"/admin/{model}/add/"),
            PageRow(f"{model} page", "GET", f"/admin/{model}/{pk}/change/"),
            PageRow(f"{model} history", "GET", f"/admin/{model}/{pk}/history/"),
            PageRow(f"{model} delete", "GET", f"/admin/{model}/{pk}/delete/"),
        ]
    rows.append(PageRow("access audit export", "GET", "/admin/audit/accessrecord/export/"))
    for model in [*b.objects(), "auth/user", "auth/group"]:
        rows += [
            PageRow(f"{model} list", "GET", f"/admin/{model}/"),
            PageRow(f"{model} search", "GET", f"/admin/{model}/?q={SEARCHED}"),
            PageRow(f"{model} add", "GET", f"/admin/{model}/add/"),
        ]
    rows += [
        PageRow("user password", "GET", f"/admin/auth/user/{world.user.pk}/password/"),
        PageRow("group page", "GET", f"/admin/auth/group/{world.a.grant.group_id}/change/"),
        PageRow("group history", "GET", f"/admin/auth/group/{world.a.grant.group_id}/history/"),
        PageRow("group delete", "GET", f"/admin/auth/group/{world.a.grant.group_id}/delete/"),
        PageRow("user page", "GET", f"/admin/auth/user/{world.user.pk}/change/"),
        PageRow("user history", "GET", f"/admin/auth/user/{world.user.pk}/history/"),
        PageRow("user delete", "GET", f"/admin/auth/user/{world.user.pk}/delete/"),
    ]
    for model, attribute, names in ACTIONS:
        pk = getattr(b, attribute).pk
        for name in names:
            data = {"action": name, "_selected_action": [pk], "index": 0, "confirm": "yes", "grace": 0, "post": "yes"}
            rows.append(PageRow(f"action {name}", "POST", f"/admin/{model}/", data))
    return rows


def text_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def test_a_user_granted_on_a_finds_nothing_of_b_on_any_page(world):
    client = client_of(world.user)
    before = world.b_state()
    failures = []

    for row in object_rows(world):
        call = client.post if row.method == "POST" else client.get
        b_pk = object_pk(world, world.b, row)
        as_b = call(row.path.format(pk=b_pk), row.data or {})
        as_missing = call(row.path.format(pk=MISSING), row.data or {})
        location_b = as_b.get("Location", "").replace(str(b_pk), "ID")
        location_missing = as_missing.get("Location", "").replace(str(MISSING), "ID")
        if (as_b.status_code, location_b) != (as_missing.status_code, location_missing):
            failures.append(
                f"{row.label}: B's answered {as_b.status_code} {location_b}, a missing id "
                f"{as_missing.status_code} {location_missing}"
            )
        if as_b.status_code == 200 or as_b.status_code == 403 and as_missing.status_code != 403:
            failures.append(f"{row.label}: B's answered {as_b.status_code}")
        if MARK in text_of(as_b):
            failures.append(f"{row.label}: shows B")

    for row in page_rows(world):
        call = client.post if row.method == "POST" else client.get
        response = call(row.path, row.data or {}, follow=True)
        if response.status_code >= 500:
            failures.append(f"{row.label}: answered {response.status_code}")
        if MARK in text_of(response):
            failures.append(f"{row.label}: {row.path} shows B")

    assert world.b_state() == before
    assert not failures, "\n".join(failures)


def test_the_same_user_uses_every_page_of_source_a(world):
    """The control: the grant on A opens A's pages, so that B's answers above are the scope's doing."""
    client = client_of(world.user)
    for model, pk in world.a.objects().items():
        expected = 403 if model == "sources/sourceaccess" else 200  # grants: Django's permission only
        assert client.get(f"/admin/{model}/{pk}/change/").status_code == expected, model
    assert client.get(f"/admin/documents/document/{world.a.document.pk}/download/").status_code == 200
    listed = client.get("/admin/documents/document/?q=saffron").content.decode()
    assert "Acme contract" in listed


def test_the_table_tries_every_url_of_the_admin(world):
    tried = {resolve(row.path.split("?")[0].format(pk=1)).url_name for row in [*object_rows(world), *page_rows(world)]}

    assert admin_url_names() - tried - {"login", "logout"} == set()


def test_every_admin_of_a_model_that_leads_to_a_source_takes_the_source_guards():
    def leads_to_source(model, depth=0) -> bool:
        if model is Source:
            return True
        return depth < 2 and any(
            field.many_to_one and leads_to_source(field.related_model, depth + 1)
            for field in model._meta.get_fields()
            if field.concrete
        )

    unguarded = [
        model.__name__
        for model in admin.site._registry
        if leads_to_source(model)
        and not isinstance(admin.site.get_model_admin(model), SourceGuardsMixin)
        # The audit log: read with its own permission, over every source (docs/audit.md).
        and model._meta.app_label != "audit"
    ]

    assert unguarded == []


def test_deliveries_of_no_source_are_seen_by_whoever_sees_every_source_only(world, admin_client):
    granted = client_of(world.user).get("/admin/webhooks/delivery/").content.decode()
    everyone = admin_client.get("/admin/webhooks/delivery/").content.decode()

    assert "Acme-event" in granted and f"{MARK}-refused" not in granted
    assert f"{MARK}-refused" in everyone


# Levels ---------------------------------------------------------------------------------------


def staff_with(world: World, level: str, name: str):
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    source_access_grant(source=world.a.source, user=user, level=level)
    return user


def test_view_reads_documents_and_their_text_but_never_their_bytes(world):
    client = client_of(staff_with(world, "view", "vera"))
    a = world.a

    page = client.get(f"/admin/documents/document/{a.document.pk}/change/")
    listed = client.get("/admin/documents/document/?q=saffron").content.decode()

    assert page.status_code == 200
    assert "forty crates of saffron" in page.content.decode()
    assert "download/" not in page.content.decode()  # no link, no preview
    assert "Acme contract" in listed and "export-csv" not in listed
    assert client.get(f"/admin/documents/workitemversion/{a.version.pk}/change/").status_code == 200
    assert client.get(f"/admin/documents/document/{a.document.pk}/download/").status_code == 403
    assert client.get(f"/admin/documents/document/{a.document.pk}/download/?inline=1").status_code == 403
    assert client.get("/admin/documents/document/export/").status_code == 403
    exported = client.post(
        "/admin/documents/document/", {"action": "export_csv", "_selected_action": [a.document.pk], "index": 0}
    )
    assert exported.status_code == 200 and "text/csv" not in exported["Content-Type"]
    assert client.get(f"/admin/sources/source/{a.source.pk}/change/").status_code == 403


def test_a_user_of_two_levels_gets_download_links_on_the_rows_of_the_source_they_may_download_from_only(world):
    user = staff_with(world, "download", "mia")
    source_access_grant(source=world.b.source, user=user, level="view")
    client = client_of(user)
    a, b = world.a, world.b
    link = "/admin/documents/document/{}/download/"

    listed = client.get("/admin/documents/document/").content.decode()
    b_work_item = client.get(f"/admin/documents/workitem/{b.version.work_item_id}/change/").content.decode()
    b_version = client.get(f"/admin/documents/workitemversion/{b.version.pk}/change/").content.decode()
    b_page = client.get(f"/admin/documents/document/{b.document.pk}/change/").content.decode()
    a_work_item = client.get(f"/admin/documents/workitem/{a.version.work_item_id}/change/").content.decode()

    assert link.format(a.document.pk) in listed and link.format(b.document.pk) not in listed
    assert f"{b.document.name}" in b_work_item and "download/" not in b_work_item
    assert "download/" not in b_version and "download/" not in b_page
    assert link.format(a.document.pk) in a_work_item
    assert client.get(link.format(b.document.pk)).status_code == 403


def test_download_downloads_and_exports_but_changes_no_setting(world):
    client = client_of(staff_with(world, "download", "dora"))
    a = world.a

    download = client.get(f"/admin/documents/document/{a.document.pk}/download/")
    export = client.get("/admin/documents/document/export/")

    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF_BYTES
    assert "Acme contract" in text_of(export) and MARK not in text_of(export)
    assert client.get(f"/admin/sources/source/{a.source.pk}/change/").status_code == 403
    assert client.get(f"/admin/sources/sourcesync/{a.sync.pk}/change/").status_code == 403
    assert client.get(f"/admin/webhooks/webhooktoken/{a.token.pk}/change/").status_code == 403
    before = Document.objects.get(pk=a.failed_document.pk).due_at
    client.post("/admin/documents/document/", {"action": "retry_documents", "_selected_action": [a.failed_document.pk]})
    assert Document.objects.get(pk=a.failed_document.pk).due_at == before


def test_manage_changes_the_sources_settings_tokens_and_replays(world):
    client = client_of(staff_with(world, "manage", "max"))
    a = world.a

    sync = client.post(
        f"/admin/sources/sourcesync/{a.sync.pk}/change/",
        {
            "documents_scope": "auto",
            "post_processing_status_method": "PUT",
            "reconcile_interval_minutes": 5,
            "reconcile_query": "filter=Completed",
        },
    )
    added = client.post("/admin/webhooks/webhooktoken/add/", {"name": "new", "source": a.source.pk})
    replayed = client.post(
        "/admin/webhooks/delivery/", {"action": "replay_deliveries", "_selected_action": [a.failed.pk], "index": 0}
    )

    assert sync.status_code == 302
    assert SourceSync.objects.get(pk=a.sync.pk).reconcile_interval_minutes == 5
    assert added.status_code == 200 and WebhookToken.objects.filter(source=a.source, name="new").exists()
    assert replayed.status_code == 302
    assert Delivery.objects.get(pk=a.failed.pk).status == Delivery.Status.ACCEPTED


def test_a_group_grant_reaches_its_staff_members_and_the_highest_level_wins(world):
    group = Group.objects.create(name="records")
    user = get_user_model().objects.create_user("gus", password="x", is_staff=True)
    user.groups.add(group)
    source_access_grant(source=world.b.source, group=group, level="download")
    source_access_grant(source=world.b.source, user=user, level="view")

    client = client_of(user)

    assert client.get(f"/admin/documents/document/{world.b.document.pk}/download/").status_code == 200
    assert client.get(f"/admin/documents/document/{world.a.document.pk}/download/").status_code == 404


def test_a_django_model_permission_reaches_every_source(world):
    """Django's permissions keep their meaning (docs/admin.md): that ability on every source."""
    user = get_user_model().objects.create_user("auditor", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_document"))

    listed = client_of(user).get("/admin/documents/document/").content.decode()

    assert "Acme contract" in listed and f"{MARK} contract" in listed


def test_the_grants_are_read_once_per_request(world, django_assert_max_num_queries):
    user = get_user_model().objects.get(pk=world.user.pk)
    with django_assert_max_num_queries(3):  # the grants, and Django's own permissions (user, groups)
        for _ in range(20):
            scope = source_scope(user, "view", every_source_permissions=["documents.view_document"])

    assert scope.ids == {world.a.source.pk}


# The dashboard -----------------------------------------------------------------------------------


def figure(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', page)
    assert match, f"no figure {name}"
    return match.group(1)


def test_the_dashboard_counts_only_the_users_sources(world, admin_client):
    for n in range(3):
        document_make(world.b.source, document_id=f"b-failed-{n}", status=Document.Status.FAILED, name=f"{MARK} f{n}")
    document_make(world.b.source, document_id="b-pending", status=Document.Status.PENDING, name=f"{MARK} p")

    mine = client_of(world.user).get("/admin/").content.decode()
    everyone = admin_client.get("/admin/").content.decode()

    assert (figure(mine, "failed"), figure(mine, "pending"), figure(mine, "synced-today")) == ("1", "0", "1")
    assert (figure(everyone, "failed"), figure(everyone, "pending"), figure(everyone, "synced-today")) == (
        "5",
        "1",
        "2",
    )
    assert figure(mine, "events-failed") == "1" and figure(everyone, "events-failed") == "2"
    assert MARK not in mine and 'id="queues"' not in mine
    assert "Acme failed" in mine
    # The chart's bars: one document stored today, one failed.
    assert 'data-synced="1"' in mine or "1 synced" in mine


# The grants' page ------------------------------------------------------------------------------


def test_grants_are_made_and_removed_in_the_admin_through_the_services(world, admin_client):
    other = get_user_model().objects.create_user("olga", password="x", is_staff=True)
    outsider = get_user_model().objects.create_user("nick", password="x", is_staff=False)

    made = admin_client.post(
        "/admin/sources/sourceaccess/add/", {"source": world.b.source.pk, "user": other.pk, "level": "download"}
    )
    refused = admin_client.post(
        "/admin/sources/sourceaccess/add/", {"source": world.b.source.pk, "user": outsider.pk, "level": "view"}
    )
    both = admin_client.post(
        "/admin/sources/sourceaccess/add/",
        {"source": world.b.source.pk, "user": other.pk, "group": world.a.grant.group_id, "level": "view"},
    )

    grant = SourceAccess.objects.get(source=world.b.source, user=other)
    assert made.status_code == 302 and grant.level == "download"
    assert refused.status_code == 200 and not SourceAccess.objects.filter(user=outsider).exists()
    assert both.status_code == 200
    assert client_of(other).get(f"/admin/documents/document/{world.b.document.pk}/download/").status_code == 200

    admin_client.post(f"/admin/sources/sourceaccess/{grant.pk}/change/", {"level": "view"})
    assert SourceAccess.objects.get(pk=grant.pk).level == "view"
    admin_client.post(f"/admin/sources/sourceaccess/{grant.pk}/delete/", {"post": "yes"})
    assert not SourceAccess.objects.filter(pk=grant.pk).exists()
    assert client_of(other).get(f"/admin/documents/document/{world.b.document.pk}/change/").status_code == 403

    source_page = admin_client.get(f"/admin/sources/source/{world.a.source.pk}/change/").content.decode()
    assert "user ann (manage)" in source_page

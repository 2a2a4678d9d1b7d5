"""The admin's permission edges: every page of the admin (changelists, change pages, the dashboard,
search, exports, previews, downloads, adopt-scheme, token pages, replay and retry actions), tried
by a staff user holding no permission and by one holding only the view permissions.

No page answers 500 or shows a secret (plain or encrypted); each answers 403 or 404 as the
permission says; a custom object view answers an id that exists as it answers one that does not,
to a user who may not use it. List filters take only the lookups of the filters the admin offers.
"""

import html
import re
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import resolve

from advance_sim import form_webhook_build
from audit.models import AccessRecord, ChangeRecord
from documents.models import Document, WorkItemVersion
from interviews.models import AnswerProvider
from sources.models import Source, SourceAccess, SourceSync
from tests.factories import PDF_BYTES, delivery_make, document_make, document_text_indexed, source_make
from tests.support.admin_urls import admin_url_names
from webhooks.models import Delivery, WebhookToken
from webhooks.services import source_hmac_configure, source_hmac_secret_set, token_issue

pytestmark = pytest.mark.django_db

PRINCIPAL_PASSWORD = "principal-password-5c1e"
HMAC_SECRET = "hmac-current-secret-7a3f"
HMAC_PREVIOUS = "hmac-previous-secret-2b9d"
MISSING = 987654


@dataclass
class World:
    """One row behind every page, and every secret that must never reach a page."""

    source: Source
    token: WebhookToken
    refused: Delivery
    failed: Delivery
    document: Document
    version: WorkItemVersion
    sync: SourceSync
    provider: AnswerProvider
    user: object
    group: Group
    access: AccessRecord | None = None
    secrets: list[str] = field(default_factory=list)
    grant: SourceAccess | None = None

    def state(self) -> dict:
        """What an action could change: compared before and after the requests."""
        return {
            "tokens": list(WebhookToken.objects.order_by("pk").values_list("pk", "revoked_at", "expires_at")),
            "deliveries": list(Delivery.objects.order_by("pk").values_list("pk", "status", "attempts", "source_id")),
            "documents": list(Document.objects.order_by("pk").values_list("pk", "status", "attempts", "due_at")),
            "versions": list(WorkItemVersion.objects.values_list("pk", "post_processing_status")),
            "sources": list(Source.objects.values_list("pk", "updated_at", "hmac_signed_material")),
        }


@pytest.fixture
def world(client, filesystem_storage) -> World:
    source = source_make("acme", principal_password=PRINCIPAL_PASSWORD)
    source_hmac_configure(source=source, signed_material="body")
    source_hmac_secret_set(source=source, secret=HMAC_PREVIOUS)
    source_hmac_secret_set(source=source, secret=HMAC_SECRET)
    token, key = token_issue(source=source, name="production webhook")
    # A call signed by another scheme: refused, and kept (encrypted) for a second check.
    event = {
        "eventId": "refused-1",
        "eventType": "NewWorkItemVersionComplete",
        "data": {"workItemId": "wi-1", "workItemVersionId": "v-1", "documents": []},
    }
    body, content_type = form_webhook_build(event, secret=HMAC_SECRET)
    assert client.post("/webhooks/advance/acme/", data=body, content_type=content_type).status_code == 401
    refused = Delivery.objects.get(http_status=401)
    assert refused.credentials_encrypted
    failed = delivery_make(source, status=Delivery.Status.FAILED, event_id="evt-failed")
    document = document_make(source, content=PDF_BYTES, name="Supply contract")
    document_text_indexed(document, "forty crates of saffron")
    document_make(source, document_id="doc-2", status=Document.Status.FAILED, name="Failed one")
    version = document.version
    sync = SourceSync.objects.create(source=source)
    provider = AnswerProvider.objects.create(source=source, event_type="InterviewLoadEvent", answer_json="{}")
    user = get_user_model().objects.create_user("someone", password="someone-password-8e2a", is_staff=True)
    group = Group.objects.create(name="clerks")
    source.refresh_from_db()
    secrets = [
        PRINCIPAL_PASSWORD,
        HMAC_SECRET,
        HMAC_PREVIOUS,
        source.principal_password_encrypted,
        source.hmac_secret_encrypted,
        source.hmac_previous_secret_encrypted,
        key,
        token.digest,
        refused.credentials_encrypted,
        user.password,
    ]
    grant = SourceAccess.objects.create(source=source, group=group, level=SourceAccess.Level.VIEW)
    access = AccessRecord.objects.create(action=AccessRecord.Action.VIEW, document_id=document.pk, status=200)
    return World(source, token, refused, failed, document, version, sync, provider, user, group, access, secrets, grant)


# The table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One request, and what a user holding only the view permissions gets (a user holding none
    gets 403, or `nobody` where it says otherwise)."""

    label: str
    method: str
    path: str
    viewer: int
    nobody: int = 403
    data: dict | None = None


def _changelist_actions(world: World) -> list[Row]:
    """Every action of every list, posted with a row selected: a viewer's lands nowhere."""
    actions = [
        ("sources/source", world.source.pk, ["recheck_refused", "source_test_connection", "source_reconcile_now"]),
        ("webhooks/webhooktoken", world.token.pk, ["revoke_tokens", "tokens_rotate"]),
        ("webhooks/delivery", world.failed.pk, ["replay_deliveries", "replay_failed_since"]),
        ("documents/document", world.document.pk, ["retry_documents", "export_csv"]),
        ("documents/workitemversion", world.version.pk, ["retry_post_processing"]),
    ]
    rows = []
    for model, pk, names in actions:
        for name in names:
            # export_csv needs only the view permission (it is the list as CSV). A list that offers
            # the viewer an action redirects another one with "No action selected"; a list that
            # offers none shows itself.
            viewer = {"export_csv": 200, "retry_documents": 302}.get(name, 200)
            data = {"action": name, "_selected_action": [pk], "index": 0, "confirm": "yes", "grace": 0}
            rows.append(Row(f"action {name}", "POST", f"/admin/{model}/", viewer, data=data))
    return rows


def admin_table(world: World) -> list[Row]:
    s, t, d, doc, v = world.source.pk, world.token.pk, world.refused.pk, world.document.pk, world.version.pk
    wi = world.version.work_item_id
    document_type = ContentType.objects.get_for_model(Document).pk
    objects = {
        "sources/source": s,
        "webhooks/webhooktoken": t,
        "webhooks/delivery": d,
        "documents/document": doc,
        "documents/workitem": wi,
        "documents/workitemversion": v,
        "sources/sourcesync": world.sync.pk,
        "interviews/answerprovider": world.provider.pk,
        "auth/user": world.user.pk,
        "auth/group": world.group.pk,
        # The audit log: append-only for everyone (no add, change or delete pages).
        "audit/accessrecord": world.access.pk,
        "audit/changerecord": ChangeRecord.objects.order_by("pk").first().pk,
        "sources/sourceaccess": world.grant.pk,
    }
    # Models with an add page of their own (the logs are written by the application only).
    addable = {
        "sources/source",
        "webhooks/webhooktoken",
        "sources/sourcesync",
        "interviews/answerprovider",
        "auth/user",
        "auth/group",
        "sources/sourceaccess",
    }
    rows = [
        Row("dashboard", "GET", "/admin/", 200, nobody=200),
        Row("jsi18n", "GET", "/admin/jsi18n/", 200, nobody=200),
        Row("own password", "GET", "/admin/password_change/", 200, nobody=200),
        Row("own password done", "GET", "/admin/password_change/done/", 200, nobody=200),
        # Django's: the sources a user may view, by their search fields.
        Row(
            "autocomplete", "GET", "/admin/autocomplete/?app_label=documents&model_name=document&field_name=source", 200
        ),
        Row("view on site", "GET", f"/admin/r/{document_type}/{doc}/", 404, nobody=404),
        Row("view on site, missing", "GET", f"/admin/r/{document_type}/{MISSING}/", 404, nobody=404),
    ]
    for app in ("sources", "webhooks", "documents", "interviews", "auth", "audit"):
        rows.append(Row(f"app {app}", "GET", f"/admin/{app}/", 200, nobody=404))
    for model, pk in objects.items():
        base = f"/admin/{model}/"
        rows += [
            Row(f"{model} list", "GET", base, 200),
            Row(f"{model} search", "GET", f"{base}?q=acme", 200),
            Row(f"{model} add", "GET", f"{base}add/", 403),
            Row(f"{model} page", "GET", f"{base}{pk}/change/", 200),
            # Django's own answer to an id that is not there, for who may view the list.
            Row(f"{model} page, missing", "GET", f"{base}{MISSING}/change/", 302),
            Row(f"{model} page, not an id", "GET", f"{base}abc/change/", 302),
            Row(f"{model} page posted", "POST", f"{base}{pk}/change/", 403, data={"name": "changed"}),
            Row(f"{model} history", "GET", f"{base}{pk}/history/", 200),
            Row(f"{model} history, missing", "GET", f"{base}{MISSING}/history/", 302),
            Row(f"{model} delete", "GET", f"{base}{pk}/delete/", 403),
            Row(f"{model} delete, missing", "GET", f"{base}{MISSING}/delete/", 403),
        ]
        if model in addable:
            rows.append(Row(f"{model} add posted", "POST", f"{base}add/", 403, data={"name": "new"}))
    rows += [
        Row("document search by text", "GET", "/admin/documents/document/?q=saffron", 200),
        Row("document list filtered", "GET", "/admin/documents/document/?status__exact=failed", 200),
        Row("document download", "GET", f"/admin/documents/document/{doc}/download/", 200),
        Row("document download, missing", "GET", f"/admin/documents/document/{MISSING}/download/", 404),
        Row("document preview", "GET", f"/admin/documents/document/{doc}/download/?inline=1", 200),
        Row("document preview, missing", "GET", f"/admin/documents/document/{MISSING}/download/?inline=1", 404),
        Row("document export", "GET", "/admin/documents/document/export/?q=saffron", 200),
        Row("document text", "GET", f"/admin/documents/document/{doc}/text/", 200),
        Row("document text, missing", "GET", f"/admin/documents/document/{MISSING}/text/", 404),
        Row("access audit export", "GET", "/admin/audit/accessrecord/export/?action__exact=view", 200),
        # A legal hold needs a permission of its own: a viewer learns nothing, not even which ids exist.
        Row("work item hold", "GET", f"/admin/documents/workitem/{wi}/hold/", 403),
        Row("work item hold posted", "POST", f"/admin/documents/workitem/{wi}/hold/", 403, data={"reason": "x"}),
        Row("work item hold, missing", "GET", f"/admin/documents/workitem/{MISSING}/hold/", 403),
        # Comparing versions is reading: the view level's; nobody learns which ids exist.
        Row("work item compare", "GET", f"/admin/documents/workitem/{wi}/compare/", 200),
        Row("work item compare, missing", "GET", f"/admin/documents/workitem/{MISSING}/compare/", 404),
        Row("work item compare, bad version", "GET", f"/admin/documents/workitem/{wi}/compare/?a=x", 400),
        Row("work item compare as text", "GET", f"/admin/documents/workitem/{wi}/compare.txt", 200),
        Row("work item compare as text, missing", "GET", f"/admin/documents/workitem/{MISSING}/compare.txt", 404),
        Row("replay failed since", "GET", "/admin/webhooks/delivery/replay-failed/", 403),
        Row("replay failed since posted", "POST", "/admin/webhooks/delivery/replay-failed/", 403, data={"_replay": 1}),
        Row("adopt scheme", "POST", f"/admin/webhooks/delivery/{d}/adopt-scheme/", 403, data={"scheme": 0}),
        Row("adopt scheme, missing", "POST", f"/admin/webhooks/delivery/{MISSING}/adopt-scheme/", 403),
        Row("adopt scheme, not an id", "POST", "/admin/webhooks/delivery/abc/adopt-scheme/", 403),
        Row("token add posted", "POST", "/admin/webhooks/webhooktoken/add/", 403, data={"name": "x", "source": s}),
        Row("user password", "GET", f"/admin/auth/user/{world.user.pk}/password/", 403),
        Row("user password, missing", "GET", f"/admin/auth/user/{MISSING}/password/", 403),
        *_changelist_actions(world),
    ]
    return rows


def staff_client(username: str, permissions) -> Client:
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(permissions)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def page_text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def table_failures(client: Client, world: World, *, who: str) -> list[str]:
    before = world.state()
    failures = []
    for row in admin_table(world):
        call = client.post if row.method == "POST" else client.get
        response = call(row.path, row.data or {})
        expected = row.viewer if who == "viewer" else row.nobody
        if response.status_code != expected:
            failures.append(f"{row.label}: {row.method} {row.path} answered {response.status_code}, not {expected}")
        text = page_text(response)
        leaked = [secret[:12] for secret in world.secrets if secret and secret in text]
        if leaked:
            failures.append(f"{row.label}: {row.path} shows secrets {leaked}")
    if world.state() != before:
        failures.append(f"the requests changed rows: {before} -> {world.state()}")
    return failures


def test_a_staff_user_without_permissions_gets_403_everywhere_alike_and_no_secret(world):
    client = staff_client("nobody", [])

    failures = table_failures(client, world, who="nobody")

    assert not failures, "\n".join(failures)


def test_a_staff_user_with_only_the_view_permissions_reads_every_page_without_a_secret(world):
    client = staff_client("viewer", Permission.objects.filter(codename__startswith="view_"))

    failures = table_failures(client, world, who="viewer")

    assert not failures, "\n".join(failures)


def test_the_table_tries_every_url_of_the_admin(world):
    tried = {resolve(row.path.split("?")[0]).url_name for row in admin_table(world)}
    # Pages every staff user is meant to reach, tried elsewhere or leaving the session.
    every_staff_user = {"login", "logout"}

    assert admin_url_names() - tried - every_staff_user == set()


# The page of a source, read only --------------------------------------------------------------


def test_a_viewer_reads_a_source_page_that_says_which_secrets_are_stored_and_shows_none(world):
    client = staff_client("viewer", Permission.objects.filter(codename__startswith="view_"))

    response = client.get(f"/admin/sources/source/{world.source.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "acme" in page
    assert 'type="password"' not in page
    assert "A password is stored" in page
    assert "An HMAC secret is stored; the previous one is still accepted" in page
    assert not [secret for secret in world.secrets if secret in page]


def test_the_source_page_warning_reaches_only_who_may_see_the_source(world):
    """The post-processing warning was added before the permission check: it showed on the next page."""
    client = staff_client("nobody", [])

    assert client.get(f"/admin/sources/source/{world.source.pk}/change/").status_code == 403
    index = client.get("/admin/").content.decode()

    assert "post-assembly processing" not in index


# Custom views: permission first, then the object -------------------------------------------------


def test_adopt_scheme_answers_404_to_an_id_that_is_not_one(admin_client, world):
    admin_client.raise_request_exception = False

    assert admin_client.post("/admin/webhooks/delivery/abc/adopt-scheme/", {"scheme": 0}).status_code == 404
    assert admin_client.post(f"/admin/webhooks/delivery/{MISSING}/adopt-scheme/", {"scheme": 0}).status_code == 404
    assert admin_client.get(f"/admin/webhooks/delivery/{world.refused.pk}/adopt-scheme/").status_code == 405


def test_download_answers_a_user_without_permission_403_whether_the_document_exists_or_not(world):
    client = staff_client("nobody", [])

    existing = client.get(f"/admin/documents/document/{world.document.pk}/download/")
    missing = client.get(f"/admin/documents/document/{MISSING}/download/")

    assert (existing.status_code, missing.status_code) == (403, 403)


# The document's text: governed by view_document, as its download -----------------------------------


def test_a_documents_text_and_passages_need_view_document_as_its_bytes_do(world):
    viewer = staff_client("reader", Permission.objects.filter(codename="view_document"))

    found = viewer.get("/admin/documents/document/?q=saffron").content.decode()
    page = viewer.get(f"/admin/documents/document/{world.document.pk}/change/").content.decode()

    assert "<mark>saffron</mark>" in found
    assert "forty crates of saffron" in page
    # No permission of its own suggests a control that is not there (migration 0008 removed them).
    assert not Permission.objects.filter(content_type__model="documenttext").exists()


# List filters: only the admin's own ----------------------------------------------------------------

SECRET_LOOKUPS = [
    ("webhooks/webhooktoken", "digest__startswith"),
    ("webhooks/webhooktoken", "digest"),
    ("webhooks/webhooktoken", "source__principal_password_encrypted__startswith"),
    ("sources/source", "principal_password_encrypted__startswith"),
    ("sources/source", "hmac_secret_encrypted__startswith"),
    ("sources/source", "hmac_previous_secret_encrypted__gt"),
    ("webhooks/delivery", "credentials_encrypted__startswith"),
    ("webhooks/delivery", "source__hmac_secret_encrypted__startswith"),
    ("documents/document", "source__principal_password_encrypted__startswith"),
    ("documents/document", "text_record__text__icontains"),
    ("sources/sourcesync", "source__principal_password_encrypted__startswith"),
    ("interviews/answerprovider", "source__hmac_secret_encrypted__startswith"),
    ("auth/user", "password__startswith"),
]


@pytest.mark.parametrize(("model", "lookup"), SECRET_LOOKUPS)
def test_a_lookup_on_a_secret_column_is_refused_400(admin_client, world, model, lookup):
    response = admin_client.get(f"/admin/{model}/", {lookup: "gAAAA"})

    assert response.status_code == 400


def test_every_secret_column_is_tried(world):
    """A secret column added to a model is added to SECRET_LOOKUPS."""
    tried = {(model, lookup.split("__")[0]) for model, lookup in SECRET_LOOKUPS}

    assert {("sources/source", name) for name in Source.ENCRYPTED_FIELDS} <= tried
    assert {("webhooks/webhooktoken", "digest"), ("webhooks/delivery", "credentials_encrypted")} <= tried


OFFERED_FILTERS = [
    ("webhooks/webhooktoken", {"source__id__exact": "1", "status": "active"}),
    ("webhooks/delivery", {"status__exact": "failed", "event_type": "X", "received_at__gte": "2024-01-01"}),
    ("webhooks/delivery", {"received_at__year": "2024", "received_at__month": "1"}),
    ("sources/source", {"is_active__exact": "1"}),
    ("documents/document", {"status__exact": "failed", "source__id__exact": "1", "content_type": "x"}),
    ("documents/document", {"synced_at__gte": "2024-01-01", "synced_at__lt": "2024-01-02"}),
    ("documents/document", {"text_record__status__exact": "awaiting", "version__id__exact": "1"}),
    ("documents/document", {"created_at__year": "2024", "synced_at__isnull": "True"}),
    ("documents/workitemversion", {"work_item__source__id__exact": "1", "post_processing_status__exact": "failed"}),
    ("interviews/answerprovider", {"kind__exact": "stored", "is_active__exact": "1"}),
    ("auth/user", {"is_staff__exact": "1", "groups__id__exact": "1"}),
]


@pytest.mark.parametrize(("model", "query"), OFFERED_FILTERS)
def test_the_filters_the_admin_offers_and_links_to_still_work(admin_client, world, model, query):
    response = admin_client.get(f"/admin/{model}/", query)

    assert response.status_code == 200


def test_the_links_of_the_dashboard_and_of_a_version_are_filters_the_lists_accept(admin_client, world):
    pages = [
        admin_client.get("/admin/").content.decode(),
        admin_client.get(f"/admin/documents/workitem/{world.version.work_item_id}/change/").content.decode(),
        admin_client.get(f"/admin/sources/source/{world.source.pk}/change/").content.decode(),
    ]
    links = {html.unescape(link) for page in pages for link in re.findall(r'href="(/admin/[^"?]*/\?[^"]+)"', page)}

    assert len(links) > 10
    for link in links:
        assert admin_client.get(link).status_code == 200, link

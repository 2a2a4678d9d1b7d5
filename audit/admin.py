"""The audit log in the admin: read-only for everyone (no add, change or delete, no actions), its
lists filtered by user, document, source and time, the access records exported as CSV; and the
mixins other apps' admins take to record searches and deletions."""

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin import AdminGuardsMixin, ReadOnlyAdminMixin, compact_datetime, preformatted

from .export import access_records_csv
from .models import AccessRecord, ChangeRecord
from .services import access_recorded, change_record, object_snapshot

QUERY_SHOWN_CHARS = 80


class DocumentFilter(admin.SimpleListFilter):
    """One document's accesses (?document=<id>, as its page links here); offers no list of documents."""

    title = "document"
    parameter_name = "document"

    def lookups(self, request, model_admin):
        return [(self.value(), f"document {self.value()}")] if self.value() else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(document_id=int(self.value()))
        except ValueError:
            return queryset.none()


def document_link(record: AccessRecord) -> str:
    if record.document_id is None:
        return "-"
    try:
        url = reverse("admin:documents_document_change", args=[record.document_id])
    except NoReverseMatch:
        return record.document_name or str(record.document_id)
    return format_html('<a href="{}">{}</a>', url, record.document_name or f"document {record.document_id}")


class AppendOnlyAdminMixin(ReadOnlyAdminMixin):
    """No add, change or delete for anyone, superusers included, and no actions (no "delete selected")."""

    actions = None


@admin.register(AccessRecord)
class AccessRecordAdmin(AdminGuardsMixin, AppendOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "when",
        "username",
        "address",
        "action",
        "document_shown",
        "source",
        "query_shown",
        "status",
        "detail",
    ]
    list_filter = ["action", "user", "source", ("at", admin.DateFieldListFilter), DocumentFilter]
    search_fields = ["username", "query", "document_name"]
    list_select_related = ["source"]
    show_full_result_count = False
    fields = [
        "at",
        "username",
        "user",
        "address",
        "action",
        "document_shown",
        "source",
        "query",
        "count",
        "status",
        "detail",
    ]
    readonly_fields = fields

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        export = path("export/", self.admin_site.admin_view(self.export_view), name=f"{name}_export")
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list as its filters and search show it, as CSV, streamed (audit.export, as the command's)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        records = self.get_changelist_instance(request).get_queryset(request)
        response = StreamingHttpResponse(access_records_csv(records), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="access-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response

    @admin.display(description="at", ordering="at")
    def when(self, record: AccessRecord) -> str:
        return compact_datetime(record.at)

    @admin.display(description="document")
    def document_shown(self, record: AccessRecord) -> str:
        return document_link(record)

    @admin.display(description="query")
    def query_shown(self, record: AccessRecord) -> str:
        if len(record.query) <= QUERY_SHOWN_CHARS:
            return record.query or "-"
        return format_html('<span title="{}">{}…</span>', record.query, record.query[:QUERY_SHOWN_CHARS])


@admin.register(ChangeRecord)
class ChangeRecordAdmin(AdminGuardsMixin, AppendOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["when", "username_shown", "action", "content_type", "object_repr", "source", "changes"]
    list_filter = ["action", "content_type", "actor", "source", ("at", admin.DateFieldListFilter)]
    search_fields = ["username", "object_repr", "=object_id"]
    list_select_related = ["content_type", "source"]
    show_full_result_count = False
    fields = [
        "at",
        "username_shown",
        "actor",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "source",
        "changes",
    ]
    readonly_fields = fields

    @admin.display(description="at", ordering="at")
    def when(self, record: ChangeRecord) -> str:
        return compact_datetime(record.at)

    @admin.display(description="by", ordering="username")
    def username_shown(self, record: ChangeRecord) -> str:
        return record.username or "(a command or task)"

    @admin.display(description="before → after")
    def changes(self, record: ChangeRecord) -> str:
        names = list(dict.fromkeys([*record.before, *record.after]))
        if not names:
            return "-"
        lines = format_html_join(
            "\n",
            "{}: {} → {}",
            ((name, _shown(record.before.get(name, "")), _shown(record.after.get(name, ""))) for name in names),
        )
        return preformatted(lines)


def _shown(value: object) -> str:
    return "-" if value in ("", None) else str(value)


# For other apps' admins ---------------------------------------------------------------------


class SearchRecordedMixin:
    """Records every search of the admin's list (AccessRecord "search": the term, the number found,
    the answer). Taken before AdminGuardsMixin, so that a search it stops is recorded too."""

    def changelist_view(self, request: HttpRequest, extra_context=None):
        term = request.GET.get(SEARCH_VAR, "").strip()
        if request.method != "GET" or not term:
            return super().changelist_view(request, extra_context)
        with access_recorded(request, AccessRecord.Action.SEARCH, query=term) as note:
            response = super().changelist_view(request, extra_context)
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            if getattr(request, "admin_search_stopped", False):
                note.detail = "search stopped: too long or too slow"
            elif changelist is not None:
                note.count = changelist.result_count
            return note.respond(response)


class DeletionRecordedMixin:
    """Records each object the admin deletes (a change record "deleted", with what it held)."""

    def delete_model(self, request: HttpRequest, obj) -> None:
        before = object_snapshot(obj)
        super().delete_model(request, obj)
        change_record(actor=request.user, obj=obj, before=before, after={}, action="deleted")

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

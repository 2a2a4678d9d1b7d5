"""Admin for synced documents: browse, download, retry. Rows are written by the sync, never by hand."""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from webhooks.admin import ReadOnlyAdminMixin, model_permission, preformatted, status_badge

from .models import Document, WorkItem, WorkItemVersion
from .services import documents_retry
from .storage import object_download_url, object_open

DOCUMENT_TONES = {
    Document.Status.PENDING: "info",
    Document.Status.SYNCING: "info",
    Document.Status.STORED: "success",
    Document.Status.FAILED: "error",
    Document.Status.DEAD: "error",
}


def document_status_badge(document: Document) -> str:
    return status_badge(document.get_status_display(), DOCUMENT_TONES.get(document.status, "quiet"))


def document_size(document: Document) -> str:
    return filesizeformat(document.size) if document.size is not None else "-"


def document_download_link(document: Document) -> str:
    if document.status != Document.Status.STORED:
        return "-"
    return format_html('<a href="{}">Download</a>', reverse("admin:documents_document_download", args=[document.pk]))


class ReadOnlyInlineMixin:
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# Documents ---------------------------------------------------------------------------------


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "work_item_name",
        "version_id",
        "document_name",
        "content_type",
        "size_display",
        "status_badge",
        "synced_at",
        "download_link",
    ]
    list_display_links = ["document_name"]
    list_filter = ["source", "status", "content_type", "synced_at"]
    date_hierarchy = "created_at"
    search_fields = [
        "version__work_item__name",
        "version__work_item__advance_id",
        "version__advance_id",
        "advance_id",
        "name",
        "filename",
        "version__created_by_login",
        "sha256",
    ]
    list_select_related = ["version__work_item", "source"]
    actions = ["retry_documents"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "source",
                    "work_item_link",
                    "version",
                    "advance_id",
                    "name",
                    "status_badge",
                    "download_link",
                    "url",
                ]
            },
        ),
        (
            "Stored object",
            {"fields": ["filename", "content_type", "size_display", "sha256", "storage_key", "synced_at"]},
        ),
        (
            "Sync",
            {"fields": ["attempts", "last_error_text", "due_at", "lease_expires_at", "created_at", "updated_at"]},
        ),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("version__work_item", "source")

    def get_urls(self):
        download = path(
            "<int:object_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_download",
        )
        # Before the defaults: their "<path:object_id>/" would take this URL.
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The stored bytes: a short-lived S3 URL to follow, or the file itself from the filesystem."""
        document = self.get_object(request, str(object_id))
        if document is None:
            raise Http404("No such document.")
        if not self.has_view_permission(request, document):
            raise PermissionDenied
        if document.status != Document.Status.STORED or not document.storage_key:
            raise Http404("This document is not stored.")
        filename = document.filename or str(document)
        url = object_download_url(key=document.storage_key, filename=filename)
        if url is not None:
            return HttpResponseRedirect(url)
        try:
            stored = object_open(key=document.storage_key)
        except FileNotFoundError:
            raise Http404("The stored file is missing.") from None
        return FileResponse(
            stored,
            as_attachment=True,
            filename=filename,
            content_type=document.content_type or "application/octet-stream",
        )

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return model_permission(request, self.opts, "change")

    @admin.display(description="work item", ordering="version__work_item__name")
    def work_item_name(self, document: Document) -> str:
        return str(document.version.work_item)

    @admin.display(description="version id", ordering="version__advance_id")
    def version_id(self, document: Document) -> str:
        return document.version.advance_id

    @admin.display(description="document", ordering="name")
    def document_name(self, document: Document) -> str:
        return document.name or str(document)

    @admin.display(description="size", ordering="size")
    def size_display(self, document: Document) -> str:
        return document_size(document)

    @admin.display(description="status", ordering="status")
    def status_badge(self, document: Document) -> str:
        return document_status_badge(document)

    @admin.display(description="download")
    def download_link(self, document: Document) -> str:
        return document_download_link(document)

    @admin.display(description="work item")
    def work_item_link(self, document: Document) -> str:
        work_item = document.version.work_item
        url = reverse("admin:documents_workitem_change", args=[work_item.pk])
        return format_html('<a href="{}">{}</a> ({})', url, work_item, work_item.advance_id)

    @admin.display(description="last error")
    def last_error_text(self, document: Document) -> str:
        return preformatted(document.last_error) if document.last_error else "-"

    @admin.action(description="Retry sync of selected", permissions=["retry"])
    def retry_documents(self, request: HttpRequest, queryset) -> None:
        selected = queryset.count()
        queued = documents_retry(documents=queryset)
        message = f"Queued {queued} document{'s' if queued != 1 else ''} for another sync."
        if selected - queued:
            message += f" Skipped {selected - queued} (only failed or dead documents are retried)."
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)


# Work items and versions -------------------------------------------------------------------


def versions_newest_first(queryset):
    return queryset.order_by(F("completed_at").desc(nulls_last=True), "-created_at", "-pk")


class WorkItemVersionInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = WorkItemVersion
    fields = ["advance_id", "completed_at", "created_by_login", "document_count", "documents_link"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return versions_newest_first(super().get_queryset(request).annotate(document_count=Count("documents")))

    @admin.display(description="documents")
    def document_count(self, version: WorkItemVersion) -> int:
        return version.document_count

    @admin.display(description="")
    def documents_link(self, version: WorkItemVersion) -> str:
        url = reverse("admin:documents_document_changelist") + "?" + urlencode({"version__id__exact": version.pk})
        return format_html('<a href="{}">List documents</a>', url)


@admin.register(WorkItem)
class WorkItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "advance_id", "source", "version_count", "updated_at"]
    list_display_links = ["name", "advance_id"]
    list_filter = ["source"]
    search_fields = ["name", "advance_id"]
    list_select_related = ["source"]
    inlines = [WorkItemVersionInline]
    fieldsets = [
        (None, {"fields": ["source", "advance_id", "name", "created_at", "updated_at"]}),
        ("Documents, newest version first", {"fields": ["documents_table"]}),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(version_count=Count("versions"))

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, work_item: WorkItem) -> int:
        return work_item.version_count

    @admin.display(description="documents")
    def documents_table(self, work_item: WorkItem) -> str:
        documents = (
            Document.objects.filter(version__work_item=work_item)
            .select_related("version")
            .order_by(
                F("version__completed_at").desc(nulls_last=True), "-version__created_at", "-version__pk", "name", "pk"
            )
        )
        rows = format_html_join(
            "\n",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    document.version.advance_id,
                    reverse("admin:documents_document_change", args=[document.pk]),
                    document.name or str(document),
                    document_status_badge(document),
                    document_size(document),
                    document_download_link(document),
                )
                for document in documents
            ),
        )
        if not rows:
            return "No documents."
        return format_html(
            "<table><thead><tr><th>Version</th><th>Document</th><th>Status</th><th>Size</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )


class DocumentInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Document
    fields = ["advance_id", "name", "status_badge", "content_type", "size_display", "synced_at", "download_link"]
    readonly_fields = fields

    @admin.display(description="status")
    def status_badge(self, document: Document) -> str:
        return document_status_badge(document)

    @admin.display(description="size")
    def size_display(self, document: Document) -> str:
        return document_size(document)

    @admin.display(description="download")
    def download_link(self, document: Document) -> str:
        return document_download_link(document)


@admin.register(WorkItemVersion)
class WorkItemVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["advance_id", "work_item", "completed_at", "created_by_login", "document_count"]
    list_filter = ["work_item__source"]
    search_fields = ["advance_id", "work_item__name", "created_by_login"]
    list_select_related = ["work_item"]
    inlines = [DocumentInline]
    fields = [
        "work_item",
        "advance_id",
        "delivery",
        "completed_at",
        "created_by_id",
        "created_by_login",
        "created_by_account_type",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(document_count=Count("documents"))

    @admin.display(description="documents", ordering="document_count")
    def document_count(self, version: WorkItemVersion) -> int:
        return version.document_count

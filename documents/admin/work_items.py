"""Admin of work items and their versions: read-only, newest version first; versions' post-processing retry."""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from core.admin import ReadOnlyAdminMixin, ReadOnlyInlineMixin, status_badge
from sources.admin_guards import SourceGuardsMixin

from .. import selectors
from ..models import Document, WorkItem, WorkItemVersion
from ..post_processing import versions_post_processing_retry
from .columns import DocumentColumnsMixin, RetryPermissionMixin, documents_from_display, documents_table


class WorkItemVersionInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = WorkItemVersion
    fields = ["advance_id", "completed_at", "created_by_login", "document_count", "documents_link"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        versions = selectors.versions_with_document_count(super().get_queryset(request))
        return versions.newest_first()

    @admin.display(description="documents")
    def document_count(self, version: WorkItemVersion) -> int:
        return version.document_count

    @admin.display(description="")
    def documents_link(self, version: WorkItemVersion) -> str:
        url = reverse("admin:documents_document_changelist") + "?" + urlencode({"version__id__exact": version.pk})
        return format_html('<a href="{}">List documents</a>', url)


@admin.register(WorkItem)
class WorkItemAdmin(SourceGuardsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
        return selectors.work_items_with_version_count(super().get_queryset(request))

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, work_item: WorkItem) -> int:
        return work_item.version_count

    @admin.display(description="documents")
    def documents_table(self, work_item: WorkItem) -> str:
        documents = selectors.work_item_documents(work_item=work_item)
        if not documents:
            return "No documents."
        return documents_table(documents)


class DocumentInline(DocumentColumnsMixin, ReadOnlyInlineMixin, admin.TabularInline):
    model = Document
    fields = ["advance_id", "name", "status_badge", "content_type", "size_display", "synced_at", "download_link"]
    readonly_fields = fields


POST_PROCESSING_TONES = {
    WorkItemVersion.PostProcessing.PENDING: "info",
    WorkItemVersion.PostProcessing.COMPLETING: "info",
    WorkItemVersion.PostProcessing.COMPLETED: "success",
    WorkItemVersion.PostProcessing.FAILED: "error",
}


@admin.register(WorkItemVersion)
class WorkItemVersionAdmin(SourceGuardsMixin, RetryPermissionMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    source_path = "work_item__source"
    list_display = [
        "advance_id",
        "work_item",
        "completed_at",
        "created_by_login",
        "document_count",
        "recorded_by",
        "post_processing_badge",
    ]
    list_filter = ["work_item__source", "recorded_by", "documents_from", "post_processing_status"]
    search_fields = ["advance_id", "work_item__name", "created_by_login"]
    list_select_related = ["work_item"]
    inlines = [DocumentInline]
    actions = ["retry_post_processing"]
    fields = [
        "work_item",
        "advance_id",
        "delivery",
        "recorded_by",
        "listed_from",
        "completed_at",
        "created_by_id",
        "created_by_login",
        "created_by_account_type",
        "created_at",
        "post_processing_badge",
        "post_processing_attempts",
        "post_processing_error",
        "post_processing_completed_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return selectors.versions_with_document_count(super().get_queryset(request))

    @admin.display(description="documents", ordering="document_count")
    def document_count(self, version: WorkItemVersion) -> int:
        return version.document_count

    @admin.display(description="listed from")
    def listed_from(self, version: WorkItemVersion) -> str:
        return documents_from_display(version)

    @admin.display(description="post-processing status", ordering="post_processing_status")
    def post_processing_badge(self, version: WorkItemVersion) -> str:
        if not version.post_processing_status:
            return "-"
        tone = POST_PROCESSING_TONES.get(version.post_processing_status, "quiet")
        return status_badge(version.get_post_processing_status_display(), tone)

    @admin.action(description="Retry post-processing status of selected", permissions=["retry"])
    def retry_post_processing(self, request: HttpRequest, queryset) -> None:
        queued = versions_post_processing_retry(versions=queryset)
        message = f"Queued the post-processing status call for {queued} version{'s' if queued != 1 else ''}."
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)

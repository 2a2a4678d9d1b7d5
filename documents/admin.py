"""Admin for synced documents: browse, preview, download, export, retry. Rows are written by the sync only."""

import csv
from collections.abc import Iterator

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from webhooks.admin import ReadOnlyAdminMixin, model_permission, preformatted, status_badge
from webhooks.admin_tools import compact_datetime
from webhooks.models import Source

from . import selectors
from .advance import AdvanceClient
from .models import Document, DocumentAttempt, SourceSync, WorkItem, WorkItemVersion
from .search.admin import DocumentTextSearchMixin
from .services import documents_retry, versions_post_processing_retry
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


# Shown inline in the page (the preview). Only types a browser renders without running anything
# of the document's: no HTML, no SVG, which would run as our own origin.
PREVIEW_KINDS = {
    "application/pdf": "pdf",
    "image/png": "image",
    "image/jpeg": "image",
    "image/gif": "image",
    "image/webp": "image",
}
# Short names for the list's type column; anything else shows its media type.
TYPE_LABELS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/msword": "DOC",
    "application/rtf": "RTF",
    "text/plain": "Text",
    "text/html": "HTML",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
}


class ContentTypeFilter(admin.SimpleListFilter):
    """The content types present (one query), by their short names."""

    title = "type"
    parameter_name = "content_type"

    def lookups(self, request, model_admin):
        types = model_admin.get_queryset(request).order_by("content_type").values_list("content_type", flat=True)
        return [
            (value, TYPE_LABELS.get(value.split(";")[0].strip().lower(), value)) for value in types.distinct() if value
        ]

    def queryset(self, request, queryset):
        return queryset.filter(content_type=self.value()) if self.value() else queryset


def media_type(document: Document) -> str:
    return document.content_type.split(";")[0].strip().lower()


def document_preview_kind(document: Document) -> str | None:
    """ "pdf" or "image" for a stored document the browser can show in the page, else None."""
    if document.status != Document.Status.STORED or not document.storage_key:
        return None
    return PREVIEW_KINDS.get(media_type(document))


# CSV export ----------------------------------------------------------------------------------

CSV_COLUMNS = [
    ("id", lambda d: d.pk),
    ("source", lambda d: d.source.slug),
    ("work item id", lambda d: d.version.work_item.advance_id),
    ("work item name", lambda d: d.version.work_item.name),
    ("version id", lambda d: d.version.advance_id),
    ("version completed at", lambda d: d.version.completed_at.isoformat() if d.version.completed_at else ""),
    ("user login", lambda d: d.version.created_by_login),
    ("document id", lambda d: d.advance_id),
    ("name", lambda d: d.name),
    ("filename", lambda d: d.filename),
    ("content type", lambda d: d.content_type),
    ("size", lambda d: "" if d.size is None else d.size),
    ("sha256", lambda d: d.sha256),
    ("status", lambda d: d.status),
    ("synced at", lambda d: d.synced_at.isoformat() if d.synced_at else ""),
    ("storage key", lambda d: d.storage_key),
    ("attempts", lambda d: d.attempts),
    ("last error", lambda d: d.last_error),
]
# A cell starting with one of these is a formula to a spreadsheet: names typed in Advance are not.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write() returns what it was given: csv.writer's rows, one by one."""

    def write(self, value: str) -> str:
        return value


def documents_csv_response(documents) -> StreamingHttpResponse:
    """The documents as CSV, streamed row by row (a list of any length, never all in memory)."""
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow([name for name, _ in CSV_COLUMNS])
        for document in documents.select_related("version__work_item", "source").iterator(chunk_size=1000):
            yield writer.writerow([csv_cell(value(document)) for _, value in CSV_COLUMNS])

    filename = f"documents-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReadOnlyInlineMixin(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False
    show_change_link = True


class DocumentAttemptInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The document's sync attempts, newest first: a read-only history written by the sync."""

    model = DocumentAttempt
    verbose_name = "sync attempt"
    verbose_name_plural = "sync attempts"
    show_change_link = False
    fields = ["started_at", "finished_at", "outcome", "http_status", "bytes", "error"]
    readonly_fields = fields
    ordering = ["-started_at", "-pk"]


@admin.register(Document)
class DocumentAdmin(DocumentTextSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    inlines = [DocumentAttemptInline]
    list_display = [
        "work_item_name",
        "version_id",
        "document_name",
        "type_display",
        "size_display",
        "status_badge",
        "synced",
        "download_link",
    ]
    list_display_links = ["document_name"]
    list_filter = ["source", "status", ContentTypeFilter, "synced_at"]
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
    actions = ["retry_documents", "export_csv"]
    change_list_template = "admin/documents/document/change_list.html"
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
                    "event_url",
                    "listed_from",
                ]
            },
        ),
        (
            "Stored object",
            {"fields": ["filename", "content_type", "size_display", "sha256", "storage_key", "synced_at"]},
        ),
        ("Preview", {"fields": ["preview"]}),
        ("Other versions of this document", {"fields": ["other_versions"]}),
        (
            "Sync",
            {"fields": ["attempts", "last_error_text", "due_at", "lease_expires_at", "created_at", "updated_at"]},
        ),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("version__work_item", "source")

    @admin.display(description="URL in the event")
    def event_url(self, document: Document) -> str:
        # Text, not the link the admin makes of a URLField: the sender chose it, and a browser may
        # read it as another host than our client does (which refuses such URLs).
        return document.url or "-"

    def get_urls(self):
        download = path(
            "<int:object_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_download",
        )
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        # Before the defaults: their "<path:object_id>/" would take these URLs.
        return [download, export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The list as the changelist shows it (its filters, search and order), as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:documents_document_changelist") + "?e=1")
        return documents_csv_response(changelist.get_queryset(request))

    def download_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The stored bytes: a short-lived S3 URL to follow, or the file itself from the filesystem.

        With ?inline=1, a PDF or an image is served for display in the page (the preview), under
        the same permission checks; other types are always downloads.
        """
        document = self.get_object(request, str(object_id))
        if document is None:
            raise Http404("No such document.")
        if not self.has_view_permission(request, document):
            raise PermissionDenied
        if document.status != Document.Status.STORED or not document.storage_key:
            raise Http404("This document is not stored.")
        filename = document.filename or str(document)
        inline = request.GET.get("inline") == "1" and document_preview_kind(document) is not None
        url = object_download_url(
            key=document.storage_key, filename=filename, inline_as=media_type(document) if inline else None
        )
        if url is not None:
            return HttpResponseRedirect(url)
        try:
            stored = object_open(key=document.storage_key)
        except FileNotFoundError:
            raise Http404("The stored file is missing.") from None
        response = FileResponse(
            stored,
            as_attachment=not inline,
            filename=filename,
            content_type=(media_type(document) if inline else document.content_type) or "application/octet-stream",
        )
        if inline:
            # The preview's frame is on our own pages; everything else stays unframeable (DENY).
            response["X-Frame-Options"] = "SAMEORIGIN"
        return response

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return model_permission(request, self.opts, "change")

    @admin.display(description="listed from")
    def listed_from(self, document: Document) -> str:
        return documents_from_display(document.version)

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

    @admin.display(description="synced", ordering="synced_at")
    def synced(self, document: Document) -> str:
        return compact_datetime(document.synced_at)

    @admin.display(description="type", ordering="content_type")
    def type_display(self, document: Document) -> str:
        if not document.content_type:
            return "-"
        label = TYPE_LABELS.get(media_type(document), media_type(document))
        return format_html('<span title="{}">{}</span>', document.content_type, label)

    @admin.display(description="preview")
    def preview(self, document: Document) -> str:
        kind = document_preview_kind(document)
        if kind is None:
            if document.status == Document.Status.STORED:
                return "No preview for this type; use the download link."
            return "Not stored yet."
        url = reverse("admin:documents_document_download", args=[document.pk]) + "?inline=1"
        if kind == "pdf":
            return format_html(
                '<iframe src="{}" title="Preview of {}" class="document-preview" '
                'style="width:min(860px,58vw);height:75vh;border:1px solid var(--hairline-color)"></iframe>',
                url,
                document,
            )
        return format_html(
            '<img src="{}" alt="Preview of {}" class="document-preview" '
            'style="max-width:100%;max-height:70vh;border:1px solid var(--hairline-color)">',
            url,
            document,
        )

    @admin.display(description="versions")
    def other_versions(self, document: Document) -> str:
        others = selectors.document_other_versions(document=document)
        if not others:
            return "None: this is the only version with this document."
        rows = format_html_join(
            "\n",
            '<tr><td>{}</td><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    other.version.advance_id,
                    other.version.completed_at.strftime("%Y-%m-%d %H:%M") if other.version.completed_at else "-",
                    reverse("admin:documents_document_change", args=[other.pk]),
                    other.name or str(other),
                    document_status_badge(other),
                    document_size(other),
                    document_download_link(other),
                )
                for other in others
            ),
        )
        return format_html(
            '<table class="other-versions"><thead><tr><th>Version</th><th>Completed</th><th>Document</th>'
            "<th>Status</th><th>Size</th><th></th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

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

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        return documents_csv_response(queryset)

    @admin.action(description="Retry sync of selected", permissions=["retry"])
    def retry_documents(self, request: HttpRequest, queryset) -> None:
        selected = queryset.count()
        queued = documents_retry(documents=queryset)
        message = f"Queued {queued} document{'s' if queued != 1 else ''} for another sync."
        if selected - queued:
            message += f" Skipped {selected - queued} (only failed or dead documents are retried)."
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)


# Work items and versions -------------------------------------------------------------------


def documents_from_display(version: WorkItemVersion) -> str:
    """Where the version's document list came from; a warning when it may be a later version's."""
    if version.documents_from == WorkItemVersion.DocumentsFrom.LATEST:
        return format_html(
            '<span style="background:var(--message-error-bg);padding:1px 6px">{}</span>',
            "The work item's latest list: these documents may belong to a later version",
        )
    if version.documents_from == WorkItemVersion.DocumentsFrom.NOT_FETCHABLE:
        return format_html(
            '<span style="background:var(--message-error-bg);padding:1px 6px">{}</span>',
            "Not fetchable: reconciled after a newer version, and API v1.1 lists only the latest version's documents",
        )
    return version.get_documents_from_display()


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


POST_PROCESSING_TONES = {
    WorkItemVersion.PostProcessing.PENDING: "info",
    WorkItemVersion.PostProcessing.COMPLETING: "info",
    WorkItemVersion.PostProcessing.COMPLETED: "success",
    WorkItemVersion.PostProcessing.FAILED: "error",
}


@admin.register(WorkItemVersion)
class WorkItemVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return model_permission(request, self.opts, "change")

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

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(document_count=Count("documents"))

    @admin.display(description="documents", ordering="document_count")
    def document_count(self, version: WorkItemVersion) -> int:
        return version.document_count


# Sources: "test connection" ------------------------------------------------------------------
# The source admin lives in webhooks, which knows nothing of Advance's API: the action that logs
# in to Advance is added to it from here.


def connection_error_text(error: Exception) -> str:
    """The error as it happened: our message, plus the underlying exception's own words."""
    text = str(error) or type(error).__name__
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


@admin.action(description="Test connection to Advance (log in)", permissions=["change"])
def source_test_connection(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    for source in queryset:
        try:
            AdvanceClient(source).login()
        except Exception as error:  # every failure is reported to the user as it happened
            modeladmin.message_user(
                request,
                f"{source.slug}: log-in at {source.auth_base_url} failed: {connection_error_text(error)}",
                messages.ERROR,
            )
        else:
            modeladmin.message_user(
                request, f"{source.slug}: logged in to Advance at {source.auth_base_url}.", messages.SUCCESS
            )


@admin.action(description="Reconcile with Advance now", permissions=["change"])
def source_reconcile_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    from .tasks import source_reconcile

    for source in queryset:
        source_reconcile.delay(source.pk)
    modeladmin.message_user(request, f"Queued a reconciliation of {queryset.count()} source(s).", messages.SUCCESS)


POST_PROCESSING_WARNING = (
    "No post-assembly processing status call is set: if this tenancy registers a PostProcessingEvent webhook, "
    "its documents are stored but every work item stays 'post-assembly processing is in progress' in Advance. "
    "Advance's help does not name the call; enter the one your Advance offers."
)


@admin.register(SourceSync)
class SourceSyncAdmin(admin.ModelAdmin):
    """Per-source settings of what the sync asks Advance beyond the webhook, and reconciliation's state."""

    list_display = [
        "source",
        "documents_scope",
        "post_processing_call",
        "reconcile_interval_minutes",
        "reconcile_watermark",
    ]
    list_select_related = ["source"]
    fieldsets = [
        (None, {"fields": ["source"]}),
        (
            "Post-assembly processing (PostProcessingEvent)",
            {
                "fields": [
                    "post_processing_warning",
                    "post_processing_status_path",
                    "post_processing_status_method",
                    "post_processing_status_body",
                ]
            },
        ),
        ("Documents of a version", {"fields": ["documents_scope"]}),
        (
            "Reconciliation",
            {
                "fields": [
                    "reconcile_interval_minutes",
                    "reconcile_query",
                    "reconcile_watermark",
                    "reconcile_next_at",
                    "reconcile_last_run_at",
                    "reconcile_last_error",
                ]
            },
        ),
    ]
    readonly_fields = ["post_processing_warning", "reconcile_next_at", "reconcile_last_run_at", "reconcile_last_error"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*self.readonly_fields, "source"] if obj is not None else self.readonly_fields

    @admin.display(description="post-processing status call", boolean=True)
    def post_processing_call(self, sync: SourceSync) -> bool:
        return bool(sync.post_processing_status_path)

    @admin.display(description="")
    def post_processing_warning(self, sync: SourceSync | None) -> str:
        if sync is not None and sync.post_processing_status_path:
            return "-"
        return format_html(
            '<p style="padding:6px 10px;background:var(--message-error-bg);max-width:60em">{}</p>',
            POST_PROCESSING_WARNING,
        )


def _source_change_view_with_sync_warning(change_view):
    """The source's page, with a warning when PostProcessingEvent would leave work items in progress."""

    def view(request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "GET" and str(object_id).isdigit():
            sync = SourceSync.objects.filter(source_id=object_id).first()
            if sync is None or not sync.post_processing_status_path:
                link = (
                    reverse("admin:documents_sourcesync_change", args=[sync.pk])
                    if sync
                    else reverse("admin:documents_sourcesync_add") + "?" + urlencode({"source": object_id})
                )
                # Shown in this very page: a message added and rendered within one request is not kept.
                messages.warning(
                    request, format_html('{} <a href="{}">Sync settings</a>', POST_PROCESSING_WARNING, link)
                )
        return change_view(request, object_id, form_url, extra_context)

    view.sync_warning = True
    return view


def source_admin_extend() -> None:
    source_admin = admin.site.get_model_admin(Source)
    for action in (source_test_connection, source_reconcile_now):
        if action not in (source_admin.actions or []):
            source_admin.actions = [*(source_admin.actions or []), action]
    if not getattr(source_admin.change_view, "sync_warning", False):
        source_admin.change_view = _source_change_view_with_sync_warning(source_admin.change_view)


source_admin_extend()

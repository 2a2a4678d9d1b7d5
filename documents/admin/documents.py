"""Admin of synced documents: browse, preview, download, export, retry."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from audit.admin import SearchRecordedMixin
from audit.models import AccessRecord
from audit.selectors import document_accesses_recent
from audit.services import access_record, access_recorded
from core.admin import (
    KeysFirstPaginator,
    ReadOnlyAdminMixin,
    ReadOnlyInlineMixin,
    SortKeyFollowsColumnMixin,
    compact_datetime,
    model_permission,
    preformatted,
    statement_timed_out,
    statement_timeout,
)
from sources.admin_guards import SourceGuardsMixin

from .. import selectors
from ..downloads import DocumentNotStored, content_type_label, document_download, document_preview_kind
from ..models import Document, DocumentAttempt
from ..queueing import documents_retry
from ..search.admin import DocumentTextSearchMixin
from .columns import (
    DocumentColumnsMixin,
    RetryPermissionMixin,
    document_archive_text,
    documents_from_display,
    documents_table,
    download_link_column,
)
from .export import documents_by_keys, documents_csv_response

RECENT_ACCESSES = 20


class ContentTypeFilter(admin.SimpleListFilter):
    """The content types present (one query), by their short names."""

    title = "type"
    parameter_name = "content_type"

    def lookups(self, request, model_admin):
        types = selectors.documents_content_types(scope=model_admin.visible_scope(request))
        return [(value, content_type_label(value, unknown=value)) for value in types]

    def queryset(self, request, queryset):
        return queryset.filter(content_type=self.value()) if self.value() else queryset


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
class DocumentAdmin(
    SearchRecordedMixin,
    SourceGuardsMixin,
    SortKeyFollowsColumnMixin,
    DocumentTextSearchMixin,
    DocumentColumnsMixin,
    RetryPermissionMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
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
    linked_filter_paths = ("version",)  # a version's "List documents"
    search_fields = [
        "version__work_item__name",
        "^version__work_item__advance_id",  # ids and hashes are pasted whole or from their start
        "^version__advance_id",
        "^advance_id",
        "name",
        "filename",
        "version__created_by_login",
        "^sha256",
    ]
    list_select_related = ["version__work_item", "source"]
    show_full_result_count = False  # a count of every document on each search: not worth its scan
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
            {
                "fields": [
                    "filename",
                    "content_type",
                    "size_display",
                    "sha256",
                    "storage_key",
                    "storage_version_id",
                    "synced_at",
                ]
            },
        ),
        ("Archive", {"fields": ["archive"]}),
        ("Preview", {"fields": ["preview"]}),
        ("Other versions of this document", {"fields": ["other_versions"]}),
        (
            "Sync",
            {"fields": ["attempts", "last_error_text", "due_at", "lease_expires_at", "created_at", "updated_at"]},
        ),
    ]
    readonly_fields = [*flatten_fieldsets(fieldsets), "recent_accesses", "other_versions_no_download"]
    accesses_fieldset = ("Recent accesses", {"fields": ["recent_accesses"]})

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_paginator(self, request: HttpRequest, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if queryset.model is not self.model:  # the history page's log entries
            return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        rows = Document.objects.select_related(*self.list_select_related)
        try:
            page_number = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            page_number = 1  # the changelist answers a bad page number itself
        # A searched list is ranked: every match is computed anyway, so the page's query counts them.
        # Past the ranked matches it is listed newest first, its length estimated, not counted.
        searched = bool(request.GET.get(SEARCH_VAR, "").strip())
        estimated = getattr(request, "search_matches_estimate", None)
        return KeysFirstPaginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            rows=rows,
            page_counts=searched and estimated is None,
            page_number=page_number,
            estimated_count=estimated,
            paged_max=settings.SEARCH_RANKED_MATCHES,
            dates_field=self.date_hierarchy,
        )

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("<int:object_id>/download/", self.admin_site.admin_view(self.download_view), name=f"{name}_download"),
            path("<int:object_id>/text/", self.admin_site.admin_view(self.text_view), name=f"{name}_text"),
            path("export/", self.admin_site.admin_view(self.export_view), name=f"{name}_export"),
        ]
        # Before the defaults: their "<path:object_id>/" would take these URLs.
        return [*own, *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The document's page (its preview frame, the start of its text), recorded as a view."""
        if request.method != "GET":
            return super().change_view(request, object_id, form_url, extra_context)
        key = int(object_id) if object_id.isdigit() else None
        with access_recorded(request, AccessRecord.Action.VIEW, documents=key, query="" if key else object_id) as note:
            response = super().change_view(request, object_id, form_url, extra_context)
            document = (getattr(response, "context_data", None) or {}).get("original")
            if document is not None:
                note.documents = document
            elif response.status_code == 302:
                note.detail = "no such document"  # the admin's answer: back to the index, with a message
            return note.respond(response)

    def has_download_permission(self, request: HttpRequest) -> bool:
        """Whether the user may download documents of some source (the CSV export's permission too)."""
        return self.has_view_permission(request) and not self.download_scope(request).empty

    def get_list_display(self, request: HttpRequest):
        shown = super().get_list_display(request)
        scope = self.download_scope(request)
        if scope.every:
            return shown
        if scope.empty:
            return [f for f in shown if f != "download_link"]
        # Some sources' bytes only: the link on their rows alone.
        return [download_link_column(scope) if f == "download_link" else f for f in shown]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        if not self.download_scope(request).allows(obj.source_id):
            # Seen at the view level: no download link, no preview (the bytes are the download level's).
            no_download = {"other_versions": "other_versions_no_download"}
            fieldsets = [
                (
                    name,
                    {**options, "fields": [no_download.get(f, f) for f in options["fields"] if f != "download_link"]},
                )
                for name, options in fieldsets
                if "preview" not in options["fields"]
            ]
        # Only for who may read the audit: the page is recorded, the log is not everyone's to see.
        if model_permission(request, AccessRecord._meta, "view"):
            fieldsets = [*fieldsets, self.accesses_fieldset]
        return fieldsets

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {"can_export": self.has_download_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The list as the changelist shows it (its filters, search and order), as CSV: the rows of
        the sources the user may download from.

        A searched list is found under the search's statement timeout, as on the list's page: its
        keys first, then the rows streamed by key."""
        with access_recorded(request, AccessRecord.Action.EXPORT, query=request.GET.urlencode()) as note:
            response = self._export_response(request)
            return note.respond(response, detail="streamed" if response.status_code == 200 else "search stopped")

    def _export_response(self, request: HttpRequest) -> HttpResponse:
        if not self.has_download_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:documents_document_changelist")
        searched = bool(request.GET.get(SEARCH_VAR, "").strip())
        try:
            with statement_timeout(settings.ADMIN_SEARCH_TIMEOUT_MS if searched else 0):
                documents = self.get_changelist_instance(request).get_queryset(request)
                documents = self.download_scope(request).filter(documents)
                if searched:
                    documents = documents_by_keys(list(documents.values_list("pk", flat=True)))
        except IncorrectLookupParameters:
            return HttpResponseRedirect(changelist_url + "?e=1")
        except OperationalError as error:
            if not statement_timed_out(error):
                raise
            seconds = settings.ADMIN_SEARCH_TIMEOUT_MS / 1000
            self.message_user(
                request, f"The export's search took longer than {seconds:g} s and was stopped.", messages.ERROR
            )
            return HttpResponseRedirect(changelist_url)
        return documents_csv_response(documents)

    def download_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The stored bytes: a short-lived S3 URL to follow, or the file itself from the filesystem.

        With ?inline=1, a PDF or an image is served for display in the page (the preview), under
        the same permission checks; other types are always downloads.
        """
        inline = request.GET.get("inline") == "1"
        action = AccessRecord.Action.PREVIEW if inline else AccessRecord.Action.DOWNLOAD
        with access_recorded(request, action, documents=object_id) as note:
            return note.respond(*self._download_response(request, object_id, inline=inline, note=note))

    def _download_response(self, request: HttpRequest, object_id: int, *, inline: bool, note) -> tuple:
        # The permission first: who may not download learns nothing of which ids exist. Another
        # source's document is not found, as an id that is not there; one seen at the view level
        # only is refused.
        if not self.has_view_permission(request):
            raise PermissionDenied
        document = self.get_object(request, str(object_id))
        if document is None:
            raise Http404("No such document.")
        note.documents = document  # a refusal below is recorded against the document too
        if not self.download_scope(request).allows(document.source_id):
            raise PermissionDenied
        try:
            download = document_download(document=document, inline=inline)
        except DocumentNotStored:
            note.detail = "not stored"
            raise Http404("This document is not stored.") from None
        except FileNotFoundError:
            note.detail = "stored file missing"
            raise Http404("The stored file is missing.") from None
        if download.url is not None:
            seconds = settings.DOCUMENT_STORAGE["OPTIONS"].get("querystring_expire")
            return HttpResponseRedirect(download.url), f"presigned URL handed out, valid {seconds} s"
        response = FileResponse(
            download.file,
            as_attachment=not download.inline,
            filename=download.filename,
            content_type=download.content_type,
        )
        if download.inline:
            # The preview's frame is on our own pages; everything else stays unframeable (DENY).
            response["X-Frame-Options"] = "SAMEORIGIN"
        return response, "file served"

    @admin.display(description="")
    def recent_accesses(self, document: Document) -> str:
        accesses = document_accesses_recent(document_id=document.pk, limit=RECENT_ACCESSES)
        if not accesses:
            return "None recorded."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    compact_datetime(record.at),
                    record.username or "-",
                    record.address or "-",
                    record.get_action_display(),
                    record.status,
                    record.detail or "",
                )
                for record in accesses
            ),
        )
        url = reverse("admin:audit_accessrecord_changelist") + "?" + urlencode({"document": document.pk})
        return format_html(
            '<table class="recent-accesses"><thead><tr><th>at</th><th>user</th><th>address</th><th>what</th>'
            "<th>answer</th><th></th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All accesses to this document</a> (the latest {} are shown)</p>',
            rows,
            url,
            RECENT_ACCESSES,
        )

    @admin.display(description="retention and legal hold")
    def archive(self, document: Document) -> str:
        return document_archive_text(document)

    @admin.display(description="URL in the event")
    def event_url(self, document: Document) -> str:
        # Text, not the link the admin makes of a URLField: the sender chose it, and a browser may
        # read it as another host than our client does (which refuses such URLs).
        return document.url or "-"

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

    @admin.display(description="synced", ordering="synced_at")
    def synced(self, document: Document) -> str:
        return compact_datetime(document.synced_at)

    @admin.display(description="type", ordering="content_type")
    def type_display(self, document: Document) -> str:
        if not document.content_type:
            return "-"
        return format_html(
            '<span title="{}">{}</span>', document.content_type, content_type_label(document.content_type)
        )

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
    def other_versions(self, document: Document, *, downloadable: bool = True) -> str:
        others = selectors.document_other_versions(document=document)
        if not others:
            return "None: this is the only version with this document."
        return documents_table(others, with_completed=True, css_class="other-versions", downloadable=downloadable)

    @admin.display(description="versions")
    def other_versions_no_download(self, document: Document) -> str:
        return self.other_versions(document, downloadable=False)

    @admin.display(description="work item")
    def work_item_link(self, document: Document) -> str:
        work_item = document.version.work_item
        url = reverse("admin:documents_workitem_change", args=[work_item.pk])
        return format_html('<a href="{}">{}</a> ({})', url, work_item, work_item.advance_id)

    @admin.display(description="last error")
    def last_error_text(self, document: Document) -> str:
        return preformatted(document.last_error) if document.last_error else "-"

    @admin.action(description="Export selected as CSV", permissions=["download"])
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        selected = list(queryset.values_list("pk", flat=True))
        response = documents_csv_response(queryset)
        access_record(request, AccessRecord.Action.EXPORT, documents=selected, outcome=200, detail="streamed")
        return response

    @admin.action(description="Retry sync of selected", permissions=["retry"])
    def retry_documents(self, request: HttpRequest, queryset) -> None:
        selected = queryset.count()
        queued = documents_retry(documents=queryset)
        message = f"Queued {queued} document{'s' if queued != 1 else ''} for another sync."
        if selected - queued:
            message += f" Skipped {selected - queued} (only failed or dead documents are retried)."
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)

"""Admin of work items and their versions: read-only, newest version first; versions' post-processing
retry; a work item's legal hold, put on and lifted with a reason on a page of its own."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from audit.admin import SearchRecordedMixin
from audit.models import AccessRecord
from audit.services import access_recorded
from core.admin import (
    EstimatedCountMixin,
    KeysFirstPaginator,
    ReadOnlyAdminMixin,
    ReadOnlyInlineMixin,
    SortKeyFollowsColumnMixin,
    status_badge,
)
from sources.admin_guards import SourceGuardsMixin

from .. import selectors
from ..compare import COMPARED, comparison_text, one_line, versions_compare
from ..holds import HoldRefused, work_item_hold, work_item_hold_release
from ..models import Document, WorkItem, WorkItemHold, WorkItemVersion
from ..post_processing import versions_post_processing_retry
from .columns import (
    DocumentColumnsMixin,
    RetryPermissionMixin,
    archive_text,
    document_download_scope,
    documents_from_display,
    documents_table,
)
from .comparison import compare_query_parse, redline_html, version_label, versions_chosen


def _bad_request(error: BadRequest) -> HttpResponse:
    return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")


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


class WorkItemHoldInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The work item's legal holds, put on and lifted, newest first: written by documents.holds only."""

    model = WorkItemHold
    verbose_name = "legal hold record"
    verbose_name_plural = "legal hold: who put it on or lifted it, when and why"
    fields = ["created_at", "action", "actor_name", "reason", "objects_done", "objects_failed"]
    readonly_fields = fields
    show_change_link = False


class HoldForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        required=False,
        help_text="Recorded with your name and the time, e.g. the matter or the request that calls for it.",
    )


@admin.register(WorkItem)
class WorkItemAdmin(
    SearchRecordedMixin,
    SourceGuardsMixin,
    SortKeyFollowsColumnMixin,
    EstimatedCountMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = ["name", "advance_id", "source", "version_count", "legal_hold", "updated_at"]
    list_display_links = ["name", "advance_id"]
    list_filter = ["source", "legal_hold"]
    search_fields = ["name", "advance_id"]
    list_select_related = ["source"]
    inlines = [WorkItemVersionInline, WorkItemHoldInline]
    fieldsets = [
        (None, {"fields": ["source", "advance_id", "name", "created_at", "updated_at"]}),
        ("Archive", {"fields": ["archive_state"]}),
        ("Documents, newest version first", {"fields": ["documents_table"]}),
    ]
    readonly_fields = [*flatten_fieldsets(fieldsets), "documents_table_no_download"]
    change_form_template = "admin/documents/workitem/change_form.html"

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or document_download_scope(request).allows(obj.source_id):
            return fieldsets
        # Seen at the view level: the documents without their download links.
        return [
            (name, {**options, "fields": [_no_download(f) for f in options["fields"]]}) for name, options in fieldsets
        ]

    def get_queryset(self, request: HttpRequest):
        return selectors.work_items_with_version_count(super().get_queryset(request))

    def get_paginator(self, request: HttpRequest, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if queryset.model is not self.model:  # the history page's log entries
            return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        # The page's keys first: the rows a deep page skips carry neither the source nor a count of
        # versions (computed for the page's rows only).
        rows = selectors.work_items_with_version_count(WorkItem.objects.select_related(*self.list_select_related))
        return KeysFirstPaginator(queryset, per_page, orphans, allow_empty_first_page, rows=rows)

    def has_hold_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.hold_workitem")

    def get_urls(self):
        hold = self.admin_site.admin_view(self.hold_view)
        compare = self.admin_site.admin_view(self.compare_view)
        compare_text = self.admin_site.admin_view(self.compare_text_view)
        # Before the defaults: their "<path:object_id>/" would take these URLs.
        return [
            path("<path:object_id>/hold/", hold, name="documents_workitem_hold"),
            path("<path:object_id>/compare/", compare, name="documents_workitem_compare"),
            path("<path:object_id>/compare.txt", compare_text, name="documents_workitem_compare_text"),
            *super().get_urls(),
        ]

    def compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Two versions' documents compared (?a=<older version>&b=<newer version>; by default the
        newest against the one before): a redline per pair, recorded in the audit log."""
        return self._compare(request, object_id, text=False)

    def compare_text_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The same comparison as plain text (a unified diff per pair), to attach to an email."""
        return self._compare(request, object_id, text=True)

    def _compare(self, request: HttpRequest, object_id: str, *, text: bool) -> HttpResponse:
        asked = request.GET.urlencode()
        query_recorded = f"work item {object_id}" + (f" ({asked})" if asked else "")
        with access_recorded(request, AccessRecord.Action.COMPARE, query=query_recorded) as note:
            # The permissions first: who may not view learns nothing of which ids exist. The page
            # shows documents' texts, so it needs the documents' view permission too (as their
            # text view does). Another source's work item is not found, as an id that is not there.
            documents_admin = self.admin_site.get_model_admin(Document)
            if not self.has_view_permission(request) or not documents_admin.has_view_permission(request):
                raise PermissionDenied
            try:
                query = compare_query_parse(request.GET)
            except BadRequest as error:
                return note.respond(_bad_request(error), detail="bad request")
            work_item = self.get_object(request, unquote(object_id))
            # The texts shown are the documents', so their admin's scope decides as well: Django's
            # view permission on work items (every source) with a grant on one source gives the
            # documents' view permission, yet the documents of only that source.
            if work_item is None or not documents_admin.visible_scope(request).allows(work_item.source_id):
                raise Http404("No such work item.")
            note.source = work_item.source_id
            versions = selectors.work_item_versions(work_item=work_item)
            try:
                old, new = versions_chosen(query, versions)
            except BadRequest as error:
                return note.respond(_bad_request(error), detail="bad request")
            pairs = []
            if old is not None and new is not None:
                pairs = versions_compare(
                    selectors.version_documents_compared(version=old),
                    selectors.version_documents_compared(version=new),
                    seconds=settings.COMPARE_SECONDS,
                    max_chars=settings.COMPARE_MAX_CHARS,
                    texts_read=selectors.document_texts_compared,
                    unified=text,
                )
                note.query = f"work item {work_item.advance_id}: version {old.advance_id} against {new.advance_id}"
                note.documents = [
                    side.pk for pair in pairs for side in (pair.old, pair.new) if side is not None
                ] or None
            compared = sum(1 for pair in pairs if pair.kind == COMPARED)
            detail = f"{'plain text' if text else 'page'}: {len(pairs)} pairs, {compared} compared"
            if text:
                return note.respond(self._compare_text(work_item, versions, old, new, pairs), detail=detail)
            return note.respond(self._compare_page(request, work_item, versions, old, new, pairs), detail=detail)

    def _compare_text(self, work_item: WorkItem, versions, old, new, pairs) -> HttpResponse:
        if new is None:
            body = f"{one_line(str(work_item))}: no version yet, nothing to compare.\n"
        elif old is None and len(versions) < 2:
            body = f"{one_line(str(work_item))}: fewer than two versions, nothing to compare.\n"
        elif old is None:
            body = (
                f"{one_line(str(work_item))}: no version is older than {one_line(version_label(new))}, "
                "nothing to compare it with.\n"
            )
        else:
            heading = f"{work_item} ({work_item.advance_id}): version {version_label(old)} against {version_label(new)}"
            body = f"{one_line(heading)}\n\n" + comparison_text(pairs, old_name=old.advance_id, new_name=new.advance_id)
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
        name = f"compare-{work_item.pk}-{old.pk if old else 0}-{new.pk if new else 0}.txt"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def _compare_page(self, request: HttpRequest, work_item: WorkItem, versions, old, new, pairs) -> HttpResponse:
        compare_url = reverse("admin:documents_workitem_compare", args=[work_item.pk])
        chosen = "?" + urlencode({"a": old.pk, "b": new.pk}) if old and new else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Compare versions of {work_item}",
            "work_item": work_item,
            "versions": [(version.pk, version_label(version)) for version in versions],
            "old": old,
            "new": new,
            "pairs": [(pair, redline_html(pair) if pair.kind == COMPARED else "") for pair in pairs],
            "link": request.build_absolute_uri(compare_url + chosen),
            "text_url": reverse("admin:documents_workitem_compare_text", args=[work_item.pk]) + chosen,
            "change_url": reverse("admin:documents_workitem_change", args=[work_item.pk]),
            "changelist_url": reverse("admin:documents_workitem_changelist"),
        }
        return TemplateResponse(request, "admin/documents/workitem/compare.html", context)

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        context["can_hold"] = obj is not None and self.has_hold_permission(request)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def hold_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Put a legal hold on the work item's documents, or with ?release=1 lift it, with a reason."""
        # The permission first: who may not hold learns nothing of which ids exist.
        if not self.has_hold_permission(request) or not self.has_view_permission(request):
            raise PermissionDenied
        work_item = self.get_object(request, unquote(object_id))
        if work_item is None:
            raise Http404("No such work item.")
        release = request.GET.get("release") == "1"
        change_url = reverse("admin:documents_workitem_change", args=[work_item.pk])
        form = HoldForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if release:
                    outcome = work_item_hold_release(
                        work_item=work_item, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                else:
                    outcome = work_item_hold(
                        work_item=work_item, actor=request.user, reason=form.cleaned_data["reason"]
                    )
            except HoldRefused as error:
                form.add_error(None, str(error))
            else:
                self._hold_report(request, outcome, release=release)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{'Lift the legal hold on' if release else 'Put a legal hold on'} {work_item}",
            "work_item": work_item,
            "release": release,
            "form": form,
            "objects": selectors.work_item_stored_count(work_item=work_item),
            "change_url": change_url,
            "changelist_url": reverse("admin:documents_workitem_changelist"),
        }
        return TemplateResponse(request, "admin/documents/workitem/hold.html", context)

    def _hold_report(self, request: HttpRequest, outcome, *, release: bool) -> None:
        done = f"{outcome.done} stored object{'s' if outcome.done != 1 else ''}"
        if not outcome.failed:
            message = f"Legal hold lifted from {done}." if release else f"Legal hold put on {done}."
            self.message_user(request, message, messages.SUCCESS)
            return
        failed = f"storage refused {len(outcome.failed)}: {'; '.join(outcome.failed[:3])}"
        still = "The work item stays held; lift it again." if release else "Put it on again to retry those."
        self.message_user(request, f"Legal hold changed on {done}, but {failed}. {still}", messages.ERROR)

    @admin.display(description="legal hold and retention")
    def archive_state(self, work_item: WorkItem) -> str:
        return archive_text(selectors.work_item_archive(work_item=work_item), what="this work item's documents")

    # Not sortable: sorting by it counts the versions of every work item of the list.
    @admin.display(description="versions")
    def version_count(self, work_item: WorkItem) -> int:
        return work_item.version_count

    @admin.display(description="documents")
    def documents_table(self, work_item: WorkItem, *, downloadable: bool = True) -> str:
        documents = selectors.work_item_documents(work_item=work_item)
        if not documents:
            return "No documents."
        return documents_table(documents, downloadable=downloadable)

    @admin.display(description="documents")
    def documents_table_no_download(self, work_item: WorkItem) -> str:
        return self.documents_table(work_item, downloadable=False)


def _no_download(field: str) -> str:
    return "documents_table_no_download" if field == "documents_table" else field


class DocumentInline(DocumentColumnsMixin, ReadOnlyInlineMixin, admin.TabularInline):
    model = Document
    fields = ["advance_id", "name", "status_badge", "content_type", "size_display", "synced_at", "download_link"]
    readonly_fields = fields

    def get_fields(self, request: HttpRequest, obj=None):
        # obj is the version: seen at the view level, its documents show no download link.
        fields = super().get_fields(request, obj)
        if obj is None or document_download_scope(request).allows(obj.work_item.source_id):
            return fields
        return [field for field in fields if field != "download_link"]


POST_PROCESSING_TONES = {
    WorkItemVersion.PostProcessing.PENDING: "info",
    WorkItemVersion.PostProcessing.COMPLETING: "info",
    WorkItemVersion.PostProcessing.COMPLETED: "success",
    WorkItemVersion.PostProcessing.FAILED: "error",
}


@admin.register(WorkItemVersion)
class WorkItemVersionAdmin(
    SourceGuardsMixin,
    SortKeyFollowsColumnMixin,
    EstimatedCountMixin,
    RetryPermissionMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
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

    def get_paginator(self, request: HttpRequest, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if queryset.model is not self.model:  # the history page's log entries
            return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        # The page's keys first: the rows a deep page skips, and a sort, carry neither the work
        # item nor a count of documents (computed for the page's rows only).
        rows = selectors.versions_with_document_count(WorkItemVersion.objects.select_related(*self.list_select_related))
        return KeysFirstPaginator(queryset, per_page, orphans, allow_empty_first_page, rows=rows)

    # Not sortable: sorting by it counts the documents of every version of the list.
    @admin.display(description="documents")
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

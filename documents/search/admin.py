"""The Documents admin's full-text search: the search box searches the text too, ranked, with the
matching passage in the list; the document's page gets a "Text" section. DocumentAdmin takes
DocumentTextSearchMixin first among its bases."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from audit.models import AccessRecord
from audit.services import access_recorded
from core.admin import status_badge

from ..models import Document, DocumentText
from .selectors import (
    document_text_get,
    documents_matches_bounded,
    documents_name_match,
    documents_text_headlines,
    documents_text_match,
    documents_text_match_unranked,
)

# The page shows the start of a long text; the whole is searchable all the same.
TEXT_DISPLAY_CHARS = 20_000
TEXT_TONES = {
    DocumentText.Status.AWAITING: "info",
    DocumentText.Status.EXTRACTED: "success",
    DocumentText.Status.FAILED: "error",
    DocumentText.Status.UNSUPPORTED: "quiet",
}


class TextStatusFilter(admin.ChoicesFieldListFilter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "text extraction"  # not a second "status"


class DocumentTextChangeList(ChangeList):
    """Computes the passages of the page shown only. A search with more matches than are ranked
    is listed newest first (unless a column was clicked), without the date hierarchy (its first
    and last dates would read every match); the hierarchy's dates in the query string still filter."""

    def __init__(self, request, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.matches_estimate = getattr(request, "search_matches_estimate", None)
        self.ranked_matches = settings.SEARCH_RANKED_MATCHES
        self.newest_first = self.matches_estimate is not None and ORDER_VAR not in self.params
        if self.matches_estimate is not None:
            self.date_hierarchy = None

    def get_results(self, request):
        super().get_results(request)
        passages = documents_text_headlines(
            # The search's queries, made once for the page (none where nothing was searched).
            term=self.query,
            document_ids=[d.pk for d in self.result_list],
            queries=getattr(request, "search_queries", None),
        )
        for document in self.result_list:
            document.text_passage = passages.get(document.pk, "")


class DocumentTextSearchMixin:
    text_fieldset = ("Text", {"fields": ["text_outcome", "text_extracted"]})

    def get_changelist(self, request: HttpRequest, **kwargs):
        return DocumentTextChangeList

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        if not search_term.strip():
            return queryset, False
        # Name, id and login matches (the admin's search_fields) stay found, ranked after the text's.
        # No duplicates: the one-to-one text row and the pk subqueries add no rows.
        # The sources `queryset` is limited to: names and texts are found (and ranked) in theirs only.
        scope = self.visible_scope(request)
        names = documents_name_match(term=search_term, search_fields=self.get_search_fields(request), scope=scope)
        # A column clicked orders the list instead of the rank. (The admin orders before it
        # searches, when the rank does not exist yet.)
        clicked = ORDER_VAR in request.GET
        if connection.vendor != "postgresql":  # the embedded default: no ranks, and documents too few to bound
            found = documents_text_match(term=search_term, queryset=queryset, also=names.ids)
            return (found if clicked else found.order_by("-search_rank", "-pk")), False
        matches = documents_matches_bounded(term=search_term, names=names, scope=scope)
        request.search_queries = matches.queries
        if not matches.over:  # every match known, with its rank
            found = matches.listed(queryset)
            return (found if clicked else found.order_by("-search_rank", "-pk")), False
        # Read by the paginator (no count) and the ChangeList (the notice and "about").
        request.search_matches_estimate = matches.estimate
        found = documents_text_match_unranked(queryset=queryset, names=names, bounded=matches)
        # Newest first unless a column was clicked: read in the primary key's order, as far as the page.
        return (found if clicked else found.order_by("-pk")), False

    def get_list_display(self, request: HttpRequest):
        shown = list(super().get_list_display(request))
        if request.GET.get("q", "").strip():
            shown.insert(shown.index("document_name") + 1 if "document_name" in shown else len(shown), "passage")
        return shown

    def get_list_filter(self, request: HttpRequest):
        return [*super().get_list_filter(request), ("text_record__status", TextStatusFilter)]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        return [*super().get_fieldsets(request, obj), self.text_fieldset]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.text_fieldset[1]["fields"]]

    def text_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The whole extracted text as plain text (the page shows its start), recorded as a text view."""
        with access_recorded(request, AccessRecord.Action.TEXT, documents=object_id) as note:
            if not self.has_view_permission(request):
                raise PermissionDenied
            document = self.get_object(request, str(object_id))
            if document is None:
                raise Http404("No such document.")
            note.documents = document
            record = document_text_get(document_id=document.pk)
            if record is None or not record.text:
                note.detail = "no text extracted"
                raise Http404("No text extracted from this document.")
            response = HttpResponse(record.text, content_type="text/plain; charset=utf-8")
            return note.respond(response, detail=f"{len(record.text)} characters")

    @admin.display(description="Matching passage")
    def passage(self, document: Document) -> str:
        # Built escaped by the selector: only its <mark> tags are markup.
        return mark_safe(getattr(document, "text_passage", "") or "-")  # noqa: S308

    @admin.display(description="Extraction")
    def text_outcome(self, document: Document) -> str:
        record = document_text_get(document_id=document.pk)
        if record is None:
            return "-" if document.status != Document.Status.STORED else "not extracted yet (documents_reindex)"
        badge = status_badge(record.get_status_display(), TEXT_TONES.get(record.status, "quiet"))
        reason = f" {record.get_reason_display()}" if record.reason else ""
        return format_html(
            "{}{}{}{}",
            badge,
            reason,
            f": {record.detail}" if record.detail else "",
            f" ({len(record.text)} characters{', truncated' if record.truncated else ''},"
            f" {record.seconds or 0:.2f} s, config {record.config or '-'})"
            if record.status == DocumentText.Status.EXTRACTED
            else "",
        )

    @admin.display(description="Extracted text")
    def text_extracted(self, document: Document) -> str:
        record = document_text_get(document_id=document.pk)
        if record is None or not record.text:
            return "-"
        shown = record.text[:TEXT_DISPLAY_CHARS]
        more = len(record.text) - len(shown)
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 30em; overflow: auto">{}</pre>{}'
            '<p><a href="{}" class="document-text-link">The whole text</a> (plain text)</p>',
            shown,
            f"… {more} more characters (searchable, not shown)" if more else "",
            reverse("admin:documents_document_text", args=[document.pk]),
        )

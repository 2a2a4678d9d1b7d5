"""What several of the documents' admin pages show the same way: a document's status, size and
download link, where a version's documents were listed from, a table of documents."""

from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin import model_permission, status_badge
from sources.access import Level, SourceScope, source_scope

from ..models import Document, WorkItemVersion
from ..selectors import ArchiveState

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


# Lists that may not be the version's own: shown as a warning.
DOCUMENTS_FROM_WARNINGS = {
    WorkItemVersion.DocumentsFrom.LATEST: "The work item's latest list: these documents may belong to a later version",
    WorkItemVersion.DocumentsFrom.NOT_FETCHABLE: (
        "Not fetchable: reconciled after a newer version, and API v1.1 lists only the latest version's documents"
    ),
}


def documents_from_display(version: WorkItemVersion) -> str:
    """Where the version's document list came from; a warning when it may be a later version's."""
    warning = DOCUMENTS_FROM_WARNINGS.get(version.documents_from)
    if warning:
        return format_html('<span style="background:var(--message-error-bg);padding:1px 6px">{}</span>', warning)
    return version.get_documents_from_display()


def document_download_scope(request: HttpRequest) -> SourceScope:
    """The sources whose documents' bytes the user may have (as the Documents admin's download_scope)."""
    every = ["documents.view_document", "documents.change_document"]
    return source_scope(request.user, Level.DOWNLOAD, every_source_permissions=every)


def documents_table(
    documents: list[Document], *, with_completed: bool = False, css_class: str = "", downloadable: bool = True
) -> str:
    """The documents as a table: version, (its completion,) a link to the document, status, size,
    and unless `downloadable` is false (seen at the view level), the download link."""
    headers = ["Version", *(["Completed"] if with_completed else []), "Document", "Status", "Size", ""]
    rows = format_html_join(
        "\n",
        "<tr>{}</tr>",
        ((_document_cells(d, with_completed=with_completed, downloadable=downloadable),) for d in documents),
    )
    return format_html(
        "<table{}><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        format_html(' class="{}"', css_class) if css_class else "",
        format_html_join("", "<th>{}</th>", ((header,) for header in headers)),
        rows,
    )


def _document_cells(document: Document, *, with_completed: bool, downloadable: bool) -> str:
    version = document.version
    cells = [version.advance_id]
    if with_completed:
        cells.append(version.completed_at.strftime("%Y-%m-%d %H:%M") if version.completed_at else "-")
    link = reverse("admin:documents_document_change", args=[document.pk])
    cells += [
        format_html('<a href="{}">{}</a>', link, document.name or str(document)),
        document_status_badge(document),
        document_size(document),
        document_download_link(document) if downloadable else "-",
    ]
    return format_html_join("", "<td>{}</td>", ((cell,) for cell in cells))


class DocumentColumnsMixin:
    """The status, size and download columns of a document list or inline."""

    @admin.display(description="status", ordering="status")
    def status_badge(self, document: Document) -> str:
        return document_status_badge(document)

    @admin.display(description="size", ordering="size")
    def size_display(self, document: Document) -> str:
        return document_size(document)

    @admin.display(description="download")
    def download_link(self, document: Document) -> str:
        return document_download_link(document)


class RetryPermissionMixin:
    """Read-only admins whose "retry" actions need the model's change permission itself."""

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return model_permission(request, self.opts, "change")


def archive_text(state: ArchiveState, *, what: str) -> str:
    """Why the stored objects cannot be deleted or overwritten now (legal hold, retention), or that they can."""
    parts = []
    if state.held:
        hold = state.last_hold
        since = f" since {hold.created_at:%Y-%m-%d %H:%M} by {hold.actor_name}: {hold.reason}" if hold else ""
        parts.append(format_html("<strong>Under a legal hold</strong>{}.", since))
    if state.retained:
        parts.append(
            format_html(
                "{} stored object{} retained (S3 Object Lock) until {} at the latest.",
                state.retained,
                "s" if state.retained != 1 else "",
                f"{state.retained_until:%Y-%m-%d %H:%M}",
            )
        )
    if not parts:
        return format_html("No legal hold and no retention: {} can be replaced by a resync.", what)
    parts.append(
        format_html(
            "While so, {} cannot be deleted or overwritten: the admin offers no delete, a resync verifies "
            "their bytes instead of writing, and pruning keeps what they refer to.",
            what,
        )
    )
    return format_html_join(" ", "{}", ((part,) for part in parts))


def document_archive_text(document: Document) -> str:
    """The document's own lock: its object's retention, and its work item's legal hold."""
    retained = document.retain_until is not None and document.retain_until > timezone.now()
    held = document.version.work_item.legal_hold
    parts = []
    if retained:
        until = f"{document.retain_until:%Y-%m-%d %H:%M}"
        parts.append(format_html("Retained ({}) until {}.", document.retention_mode, until))
    elif document.retain_until:
        parts.append(format_html("Its retention ended {}.", f"{document.retain_until:%Y-%m-%d %H:%M}"))
    if held:
        parts.append("Its work item is under a legal hold.")
    if retained or held:
        parts.append("The stored object cannot be deleted or overwritten while so; there is no delete here.")
    else:
        parts.append("Not retained, not held.")
    return format_html_join(" ", "{}", ((part,) for part in parts))


def download_link_column(scope: SourceScope):
    """The list's download column for a user who may download from some sources only: the link on
    their rows, "-" on the rest (a list_display entry made per request)."""

    @admin.display(description="download")
    def download_link(document: Document) -> str:
        return document_download_link(document) if scope.allows(document.source_id) else "-"

    return download_link

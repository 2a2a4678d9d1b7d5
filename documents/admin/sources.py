"""The sources' sync settings, and what this app adds to the source's admin of webhooks: test the
connection to Advance, reconcile now, and a warning when PostProcessingEvent would leave work items
in progress (registered in DocumentsConfig.ready(); webhooks knows nothing of Advance's API)."""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from core.admin import AdminGuardsMixin
from sources.models import SourceSync

from ..connection import source_connection_check
from ..reconcile import sources_reconcile_enqueue
from ..selectors import source_sync_find

POST_PROCESSING_WARNING = (
    "No post-assembly processing status call is set: if this tenancy registers a PostProcessingEvent webhook, "
    "its documents are stored but every work item stays 'post-assembly processing is in progress' in Advance. "
    "Advance's help does not name the call; enter the one your Advance offers. The call writes, so the source's "
    "API client needs the Command (or Root) scope: with Query it can only read."
)


def post_processing_call_missing(sync: SourceSync | None) -> bool:
    return sync is None or not sync.post_processing_status_path


@admin.register(SourceSync)
class SourceSyncAdmin(AdminGuardsMixin, admin.ModelAdmin):
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
        ("Search", {"fields": ["search_config"]}),
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
        return not post_processing_call_missing(sync)

    @admin.display(description="")
    def post_processing_warning(self, sync: SourceSync | None) -> str:
        if not post_processing_call_missing(sync):
            return "-"
        return format_html(
            '<p style="padding:6px 10px;background:var(--message-error-bg);max-width:60em">{}</p>',
            POST_PROCESSING_WARNING,
        )


# Added to the source's admin --------------------------------------------------------------


@admin.action(description="Test connection to Advance (log in)", permissions=["change"])
def source_test_connection(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    for source in queryset:
        check = source_connection_check(source=source)
        if check.ok:
            message = f"{source.slug}: logged in to Advance at {source.auth_base_url}."
            modeladmin.message_user(request, message, messages.SUCCESS)
        else:
            message = f"{source.slug}: log-in at {source.auth_base_url} failed: {check.error}"
            modeladmin.message_user(request, message, messages.ERROR)


@admin.action(description="Reconcile with Advance now", permissions=["change"])
def source_reconcile_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    queued = sources_reconcile_enqueue(sources=queryset)
    modeladmin.message_user(request, f"Queued a reconciliation of {queued} source(s).", messages.SUCCESS)


def source_post_processing_notice(*, source_id: int) -> str | None:
    """The source page's warning when no post-processing status call is set, with a link to set one."""
    sync = source_sync_find(source_id=source_id)
    if not post_processing_call_missing(sync):
        return None
    link = (
        reverse("admin:sources_sourcesync_change", args=[sync.pk])
        if sync
        else reverse("admin:sources_sourcesync_add") + "?" + urlencode({"source": source_id})
    )
    return format_html('{} <a href="{}">Sync settings</a>', POST_PROCESSING_WARNING, link)

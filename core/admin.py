"""Admin helpers every app's admin uses: status badges, preformatted text, compact times, read-only admins."""

from django.contrib.auth import get_permission_codename
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

# Badge colours from the admin's own palette, so that its dark theme applies as well.
BADGE_BACKGROUNDS = {
    "success": "var(--message-success-bg)",
    "warning": "var(--message-warning-bg)",
    "error": "var(--message-error-bg)",
    "info": "var(--selected-bg)",
    "quiet": "var(--darkened-bg)",
}


def status_badge(label: str, tone: str) -> str:
    """A status label as a small coloured badge."""
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:9px;white-space:nowrap;'
        'border:1px solid var(--hairline-color);background:{}">{}</span>',
        BADGE_BACKGROUNDS.get(tone, BADGE_BACKGROUNDS["quiet"]),
        label,
    )


def preformatted(text: str) -> str:
    return format_html(
        '<pre style="margin:0;white-space:pre-wrap;word-break:break-all;max-height:40em;overflow:auto">{}</pre>',
        text,
    )


def compact_datetime(value) -> str:
    """A time as "2026-01-31 14:05" on one line, the full time in its tooltip: narrow list columns."""
    if value is None:
        return "-"
    moment = timezone.localtime(value)
    return format_html(
        '<span style="white-space:nowrap" title="{}">{}</span>', moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M")
    )


def model_permission(request: HttpRequest, opts, action: str) -> bool:
    """The user's model permission itself, for admins whose has_<action>_permission is switched off."""
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


class ReadOnlyAdminMixin:
    """Rows are written by the application, never by hand: view only."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInlineMixin(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False
    show_change_link = True

"""Admin helpers every app's admin uses: status badges, preformatted text, compact times, read-only admins."""

from django.contrib.auth import get_permission_codename
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet, Window
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
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


class KeysFirstPaginator(Paginator):
    """Pages a wide list in two steps: the page's keys in the list's order (a narrow query, which the
    database sorts without carrying the joined rows' columns), then those rows from `rows`.

    With `page_counts` (for a list whose every row is computed, such as one ranked by a search), the
    query for the page `page_number` also counts the whole list (COUNT(*) OVER ()), where a separate
    count would find every row again. For a list read from an index, leave it off: a plain count
    and a page read in order are cheaper than counting with the page.
    """

    def __init__(
        self,
        object_list,
        per_page,
        orphans=0,
        allow_empty_first_page=True,
        *,
        rows: QuerySet,
        page_counts: bool = False,
        page_number: int = 1,
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.rows = rows
        self.page_counts = page_counts
        self.page_number = page_number
        self.counted_page_keys: list | None = None

    @cached_property
    def count(self) -> int:
        if not self.page_counts or self.page_number < 1 or self.object_list.query.distinct:
            return super().count
        bottom = (self.page_number - 1) * self.per_page
        counted = self.object_list.annotate(list_total=Window(Count("pk")))
        found = list(counted.values_list("pk", "list_total")[bottom : bottom + self.per_page + self.orphans])
        if not found:  # past the end (or an empty list): count on its own
            return super().count
        self.counted_page_keys = [key for key, _ in found]
        return found[0][1]

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:  # as Paginator.page: orphans join the last page
            top = self.count
        if number == self.page_number and self.counted_page_keys is not None:
            keys = self.counted_page_keys[: top - bottom]
        else:
            keys = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        by_key = self.rows.in_bulk(keys)
        return self._get_page([by_key[key] for key in keys if key in by_key], number, self)

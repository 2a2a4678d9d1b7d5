"""Admin helpers every app's admin uses: status badges, preformatted text, compact times, read-only
admins, and AdminGuardsMixin, which every ModelAdmin takes first among its bases."""

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR, ChangeList
from django.contrib.auth import get_permission_codename
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Max, Min, QuerySet, Window
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext

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


# A list the planner expects to hold more rows than this is not counted on each page load: its
# length is the planner's estimate, shown as "about N". A shorter one is counted exactly.
COUNT_ESTIMATED_OVER = 20_000
# Of such a list, the pages up to this many rows are served: a page further down is read past
# every row before it (OFFSET), a cost that grows with the table. A filter or the other order
# brings any row within them.
PAGED_ROWS_MAX = 20_000


def rows_estimated(queryset: QuerySet) -> int | None:
    """The database planner's estimate of how many rows the queryset returns (its plan, not a
    count), or None where there is no planner to ask (SQLite)."""
    if connection.vendor != "postgresql":
        return None
    plan = queryset.explain(format="json")
    return int(json.loads(plan)[0]["Plan"]["Plan Rows"]) if plan else 0  # no plan: a query Django knows is empty


class EstimatedCountPaginator(Paginator):
    """Counts a list exactly while the planner expects at most COUNT_ESTIMATED_OVER rows; past that,
    takes the planner's estimate (`estimated` is then True, and the list says "about N"): a count of
    every row on each page load grows with the table, the estimate does not.

    Of an estimated list, the pages up to PAGED_ROWS_MAX rows are served (`pages_limited`); a
    later page number shows the last of them.

    With `dates_field` (the list's date hierarchy), a list that is counted has the first and last
    dates of that field read in the same pass as its count, into `dates` ({"first": ..., "last": ...}):
    its date hierarchy needs no read of its own (core/templatetags/date_range_hierarchy.py)."""

    estimated = False
    paged_rows_max = PAGED_ROWS_MAX

    def __init__(
        self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, dates_field: str | None = None
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.dates_field = dates_field
        self.dates: dict | None = None

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = rows_estimated(self.object_list)
            if estimate is not None and estimate > COUNT_ESTIMATED_OVER:
                self.estimated = True
                return estimate
            if self.dates_field:
                found = self.object_list.aggregate(
                    count=Count("*"), first=Min(self.dates_field), last=Max(self.dates_field)
                )
                self.dates = {"first": found["first"], "last": found["last"]}
                return found["count"]
        return super().count

    @cached_property
    def num_pages(self) -> int:
        pages = super().num_pages
        if self.estimated:
            return min(pages, max(1, self.paged_rows_max // self.per_page))
        return pages

    @property
    def pages_limited(self) -> bool:
        return self.estimated and self.num_pages * self.per_page < self.count

    def validate_number(self, number):
        self.count  # noqa: B018 - decides whether the list is estimated, and so its last page
        if self.estimated and str(number).isdigit() and int(number) > self.num_pages:
            number = self.num_pages
        return super().validate_number(number)


class EstimatedCountMixin:
    """A ModelAdmin whose long lists are not counted on each page load (EstimatedCountPaginator),
    nor their whole table beside a filtered list's count."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_paginator(self, request: HttpRequest, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # The history page pages its log entries here too: they have no such date.
        dates_field = self.date_hierarchy if queryset.model is self.model else None
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, dates_field=dates_field)


class KeysFirstPaginator(EstimatedCountPaginator):
    """Pages a wide list in two steps: the page's keys in the list's order (a narrow query, which the
    database sorts without carrying the joined rows' columns), then those rows from `rows`.

    With `page_counts` (for a list whose every row is computed, such as one ranked by a search), the
    query for the page `page_number` also counts the whole list (COUNT(*) OVER ()), where a separate
    count would find every row again. For a list read from an index, leave it off: a plain count
    and a page read in order are cheaper than counting with the page.

    With `estimated_count` (an estimate made already, such as a search's), no count is made: the
    list is estimated at that (says "about"), and pages up to `paged_max` rows. Otherwise, without
    `page_counts`, a long list's length is the planner's (EstimatedCountPaginator).
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
        estimated_count: int | None = None,
        paged_max: int | None = None,
        dates_field: str | None = None,
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page, dates_field=dates_field)
        self.rows = rows
        self.page_counts = page_counts
        self.page_number = page_number
        self.counted_page_keys: list | None = None
        self.estimated_count = estimated_count
        if paged_max:
            self.paged_rows_max = paged_max

    @cached_property
    def count(self) -> int:
        if self.estimated_count is not None:
            self.estimated = True
            return self.estimated_count
        if not self.page_counts:
            return super().count
        if self.page_number < 1 or self.object_list.query.distinct:
            return self.object_list.count()
        bottom = (self.page_number - 1) * self.per_page
        counted = self.object_list.annotate(list_total=Window(Count("pk")))
        columns = ["pk", "list_total"]
        if self.dates_field:  # the date hierarchy's first and last dates, in the same pass
            counted = counted.annotate(
                list_first=Window(Min(self.dates_field)), list_last=Window(Max(self.dates_field))
            )
            columns += ["list_first", "list_last"]
        found = list(counted.values_list(*columns)[bottom : bottom + self.per_page + self.orphans])
        if not found:  # past the end (or an empty list): count on its own
            return self.object_list.count()
        self.counted_page_keys = [row[0] for row in found]
        if self.dates_field:
            self.dates = {"first": found[0][2], "last": found[0][3]}
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


class SortKeyFollowsColumnMixin:
    """A ModelAdmin whose list, sorted by one of its own columns, breaks ties by the key in that
    column's direction: Django breaks them by the key descending whichever way the column is sorted,
    an order an index on (column, id) serves one way only (the other sorts every row of the column's
    first value). Each sortable column of such a list has that index."""

    def get_changelist(self, request: HttpRequest, **kwargs):
        return changelist_sort_key_follows_column(super().get_changelist(request, **kwargs))


@functools.cache
def changelist_sort_key_follows_column(changelist: type[ChangeList]) -> type[ChangeList]:
    """`changelist` (Django's ChangeList or an admin's own), its sort by a column of the model's own
    (not a relation, which sorts by the related model's order) tied by the key in its direction."""

    class SortKeyFollowsColumn(changelist):
        def get_ordering(self, request: HttpRequest, queryset):
            ordering = super().get_ordering(request, queryset)
            if not self.params.get(ORDER_VAR) or len(ordering) != 2 or ordering[1] != "-pk":
                return ordering
            column = ordering[0]
            if not isinstance(column, str) or column.startswith("-"):
                return ordering
            try:
                field = self.lookup_opts.get_field(column)
            except FieldDoesNotExist:
                return ordering
            return ordering if field.is_relation else [column, "pk"]

    return SortKeyFollowsColumn


# Guards every admin takes ------------------------------------------------------------------

# The last parts of a list filter's query string parameters (Django's field list filters and date
# hierarchy make only these), after the field's path and, for a relation, its key.
FILTER_LOOKUPS = frozenset(
    {"exact", "iexact", "in", "isnull", "isempty", "gt", "gte", "lt", "lte", "year", "month", "day"}
)


class OfferedLookupsMixin:
    """The query string filters a list only through the filters the admin offers.

    Django's default accepts a lookup on any column of the model (`?digest__startswith=ab` on the
    tokens' list would find a token's digest a character at a time): here a parameter must be a
    list filter's own (a SimpleListFilter's parameter name, or a field filter's path followed by a
    relation's key and lookups of FILTER_LOOKUPS), or the date hierarchy's. Anything else answers
    400 (DisallowedModelAdminLookup).
    """

    # Field paths other pages link to with a filter the sidebar does not offer (e.g. a version's
    # documents), accepted as a list filter's.
    linked_filter_paths: tuple[str, ...] = ()

    def lookup_allowed(self, lookup: str, value, request: HttpRequest | None = None) -> bool:
        paths = [*self.linked_filter_paths]
        if self.date_hierarchy:
            paths.append(self.date_hierarchy)
        for item in self.get_list_filter(request) if request is not None else self.list_filter:
            if isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                if lookup == item.parameter_name:
                    return True
            else:
                paths.append(item[0] if isinstance(item, (list, tuple)) else item)
        return any(self._filter_lookup(path, lookup) for path in paths)

    def _filter_lookup(self, path: str, lookup: str) -> bool:
        if lookup == path:
            return True
        if not lookup.startswith(path + "__"):
            return False
        rest = lookup[len(path) + 2 :].split("__")
        field = get_fields_from_path(self.model, path)[-1]
        if field.is_relation and rest[0] in {"pk", field.target_field.name}:
            rest = rest[1:]
        return all(part in FILTER_LOOKUPS for part in rest)


class PermissionFirstMixin:
    """Django's history page looks the object up before it checks the permission (a missing id
    redirected where an existing one answered 403): the permission is asked first."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)


SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 12
# sqlstate query_canceled: what PostgreSQL raises when statement_timeout stops a statement.
QUERY_CANCELED = "57014"


@contextmanager
def statement_timeout(milliseconds: int) -> Iterator[None]:
    """Runs the block in a transaction whose statements PostgreSQL stops after `milliseconds`
    each (SET LOCAL statement_timeout); elsewhere (SQLite), or with 0, as it is."""
    if connection.vendor != "postgresql" or milliseconds <= 0:
        yield
        return
    nested = connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if nested:  # SET LOCAL outlives a savepoint: put the outer transaction's value back after
                cursor.execute("SHOW statement_timeout")
                previous = cursor.fetchone()[0]
            cursor.execute(f"SET LOCAL statement_timeout = {int(milliseconds)}")
        yield
        if nested:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])


@contextmanager
def custom_plans() -> Iterator[None]:
    """Runs the block in a transaction whose statements PostgreSQL plans for their own values
    (SET LOCAL plan_cache_mode = force_custom_plan), without parallel workers; elsewhere (SQLite)
    as it is.

    A statement run five times on a connection is prepared (DATABASES' prepare_threshold), and
    PostgreSQL may then plan it once for any values: a search's generic plan, made for no word in
    particular, hashed every document of a user's sources (p95 125 ms at 100,000 documents,
    75 ms planned for each search's words). A searched page's statements stop at its hundred
    rows: starting workers for them cost more than their work (86 ms to a first row, against
    15 ms of work, at a million documents)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def statement_timed_out(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == QUERY_CANCELED


class SearchLimitsMixin:
    """A search of at most SEARCH_MAX_CHARS characters and SEARCH_MAX_WORDS words, whose list is
    read under a statement timeout (ADMIN_SEARCH_TIMEOUT_MS): a crafted search, or a link to one,
    cannot tie up the database. A search refused or stopped lists nothing and says why."""

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        if getattr(request, "admin_search_stopped", False):
            return queryset.none(), False
        if len(search_term) > SEARCH_MAX_CHARS or len(search_term.split()) > SEARCH_MAX_WORDS:
            request.admin_search_stopped = True
            message = f"Search not run: at most {SEARCH_MAX_CHARS} characters and {SEARCH_MAX_WORDS} words."
            messages.error(request, message)
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def get_changelist_instance(self, request: HttpRequest):
        """The list and its count, read with statements planned for the searched words."""
        if not request.GET.get(SEARCH_VAR, "").strip():
            return super().get_changelist_instance(request)
        with custom_plans():
            return super().get_changelist_instance(request)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if request.method != "GET" or not request.GET.get(SEARCH_VAR, "").strip():
            return super().changelist_view(request, extra_context)
        milliseconds = settings.ADMIN_SEARCH_TIMEOUT_MS
        try:
            with statement_timeout(milliseconds):
                response = super().changelist_view(request, extra_context)
                # Rendered here: the page's template reads the searched list too (date hierarchy).
                return response.render() if hasattr(response, "render") else response
        except OperationalError as error:
            if not statement_timed_out(error):
                raise
        request.admin_search_stopped = True
        message = (
            f"The search took longer than {milliseconds / 1000:g} s and was stopped. "
            "Narrow it: more of a name or an id, fewer words, or a filter."
        )
        messages.error(request, message)
        return super().changelist_view(request, extra_context)


class RowCheckboxMixin:
    """The list's checkbox of each row written as the admin's widget renders it, without rendering
    the widget's template for each row: a third of the time the rows of a long page took to draw
    (docs/performance.md)."""

    def action_checkbox(self, obj) -> str:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(gettext("Select this object for an action - {}"), str(obj)),
        )


class AdminGuardsMixin(SearchLimitsMixin, OfferedLookupsMixin, PermissionFirstMixin, RowCheckboxMixin):
    """What every ModelAdmin of this project takes first among its bases (before any mixin that
    searches): filters only through its own filters, permission before object, bounded search;
    and its list's rows drawn without a template per row."""


# Django's own admins of users and groups, with the same guards (`?password__startswith=`).
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class GuardedUserAdmin(AdminGuardsMixin, UserAdmin):
    pass


@admin.register(Group)
class GuardedGroupAdmin(AdminGuardsMixin, GroupAdmin):
    pass

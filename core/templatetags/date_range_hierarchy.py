"""The admin's date hierarchy, its choices read from the list's first and last dates."""

import calendar
from datetime import date, datetime

from django import template
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db.models import F, Max, Min
from django.utils import timezone

register = template.Library()


def _day(value) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


class _DatesInRange:
    """Stands in for the list's queryset where the hierarchy asks for its distinct years, months or
    days: every one between the first and last date, where Django reads the date of every row. A
    year, month or day without rows may be offered: it lists none.

    The first and last dates cost no walk of the date's index under a filter on another column (the
    planner expects a row synced this week every few rows of the creation dates' index, and may
    read years of them before the first):
    - a counted list (EstimatedCountPaginator's `dates_field`): read with its count, in one pass
      (a ranked search's too: KeysFirstPaginator reads them with its page and count);
    - a long list (its length estimated): the ends of the date's index over every row the user may
      see (the list without its filters), within the year, month or day chosen in the hierarchy;
      its rows lie between them;
    - otherwise (a searched list whose length is estimated, or a page past a list's end): the
      list's own, as Django's.
    """

    def __init__(self, changelist):
        self.changelist = changelist
        self.queryset = changelist.queryset
        self.bounds: dict[str, dict] = {}

    def aggregate(self, *args, **kwargs):
        first, last = kwargs.get("first"), kwargs.get("last")
        if not args and set(kwargs) == {"first", "last"} and isinstance(first, Min) and isinstance(last, Max):
            field, same = first.get_source_expressions()[0], last.get_source_expressions()[0]
            if isinstance(field, F) and isinstance(same, F) and field.name == same.name:
                return self._bounds(field.name)
        return self.queryset.aggregate(*args, **kwargs)

    def _bounds(self, field_name: str) -> dict:
        # Read once per page: the hierarchy's start level and its choices both need them.
        if field_name not in self.bounds:
            self.bounds[field_name] = self._bounds_read(field_name)
        return self.bounds[field_name]

    def _bounds_read(self, field_name: str) -> dict:
        changelist, paginator = self.changelist, self.changelist.paginator
        if getattr(paginator, "dates_field", None) == field_name and paginator.dates is not None:
            return paginator.dates
        ends = {"first": Min(field_name), "last": Max(field_name)}
        if getattr(paginator, "estimated", False) and not changelist.query:
            return changelist.root_queryset.aggregate(**ends)
        return self.queryset.aggregate(**ends)

    def datetimes(self, field_name: str, kind: str, *args, **kwargs) -> list[date]:
        bounds = self._bounds(field_name)
        if bounds["first"] is None:
            return []
        first, last = _day(bounds["first"]), _day(bounds["last"])
        chosen = self._chosen(field_name)
        if chosen is not None:
            first, last = max(first, chosen[0]), min(last, chosen[1])
        if first > last:
            return []
        if kind == "year":
            return [date(year, 1, 1) for year in range(first.year, last.year + 1)]
        if kind == "month":
            months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
            return [date(month // 12, month % 12 + 1, 1) for month in months]
        return [date.fromordinal(day) for day in range(first.toordinal(), last.toordinal() + 1)]

    dates = datetimes

    def _chosen(self, field_name: str) -> tuple[date, date] | None:
        """The first and last day of the year, month or day chosen in the hierarchy, if any (the
        changelist refused the page already if they are not numbers of a date)."""
        params = self.changelist.params
        year = params.get(f"{field_name}__year")
        if not year:
            return None
        month, day = params.get(f"{field_name}__month"), params.get(f"{field_name}__day")
        year = int(year)
        if not month:
            return date(year, 1, 1), date(year, 12, 31)
        month = int(month)
        if not day:
            return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        return date(year, month, int(day)), date(year, month, int(day))


class _ChangeListDatesInRange:
    def __init__(self, changelist):
        self._changelist = changelist
        self.queryset = _DatesInRange(changelist)

    def __getattr__(self, name: str):
        return getattr(self._changelist, name)


@register.inclusion_tag("admin/date_hierarchy.html")
def date_range_hierarchy(cl) -> dict:
    """Django's date hierarchy of the list `cl`, whose choices come from its first and last dates:
    a bounded cost however many rows the list holds."""
    return date_hierarchy(_ChangeListDatesInRange(cl))

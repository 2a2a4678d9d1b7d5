"""The admin's date hierarchy, its choices read from the list's first and last dates."""

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
    days: every one between the first and last date (two reads of the date's index), where Django
    reads the date of every row. A year, month or day without rows may be offered: it lists none."""

    def __init__(self, queryset):
        self.queryset = queryset
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
            self.bounds[field_name] = self.queryset.aggregate(first=Min(field_name), last=Max(field_name))
        return self.bounds[field_name]

    def datetimes(self, field_name: str, kind: str, *args, **kwargs) -> list[date]:
        bounds = self._bounds(field_name)
        if bounds["first"] is None:
            return []
        first, last = _day(bounds["first"]), _day(bounds["last"])
        if kind == "year":
            return [date(year, 1, 1) for year in range(first.year, last.year + 1)]
        if kind == "month":
            months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
            return [date(month // 12, month % 12 + 1, 1) for month in months]
        return [date.fromordinal(day) for day in range(first.toordinal(), last.toordinal() + 1)]

    dates = datetimes


class _ChangeListDatesInRange:
    def __init__(self, changelist):
        self._changelist = changelist
        self.queryset = _DatesInRange(changelist.queryset)

    def __getattr__(self, name: str):
        return getattr(self._changelist, name)


@register.inclusion_tag("admin/date_hierarchy.html")
def date_range_hierarchy(cl) -> dict:
    """Django's date hierarchy of the list `cl`, whose choices come from its first and last dates:
    a constant cost however many rows the list holds."""
    return date_hierarchy(_ChangeListDatesInRange(cl))

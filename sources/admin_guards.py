"""The guards of every admin whose rows belong to a source: core.admin.AdminGuardsMixin's, and the
rows of sources the user may not see do not exist for them.

Every ModelAdmin of a model that leads to a Source takes SourceGuardsMixin first among its bases
(tests/webhooks/test_admin_source_access.py holds every registered admin to it). It filters the
admin's queryset, so that its list, search, change page, history, delete page, actions and custom
views find only those rows (another source's id answers as an id that is not there); its
change and delete permissions and its actions need the manage level on the row's source; its
filters and forms offer only those sources.
"""

import functools

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.http import HttpRequest

from core.admin import AdminGuardsMixin

from .access import Level, SourceScope, source_scope
from .models import Source


class SourceListFilter(admin.RelatedFieldListFilter):
    """A filter by source that offers the sources the user may see in this list, not every one."""

    def field_choices(self, field, request, model_admin):
        sources = model_admin.visible_scope(request).filter(Source.objects.order_by("slug"), "pk")
        return [(source.pk, str(source)) for source in sources]


class SourceGuardsMixin(AdminGuardsMixin):
    """AdminGuardsMixin, and rows limited to the sources the user may use (sources/access.py)."""

    # The path from the model to its source ("pk" for Source itself).
    source_path = "source"
    # The level a grant needs to show these rows: documents are seen at view, a source's
    # settings, tokens and delivery log at manage.
    view_level = Level.VIEW

    # Scopes ---------------------------------------------------------------------------------

    def _permission(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def visible_scope(self, request: HttpRequest) -> SourceScope:
        """The sources whose rows this admin shows the user (every source with Django's view or
        change permission on the model)."""
        every = [self._permission("view"), self._permission("change")]
        return source_scope(request.user, self.view_level, every_source_permissions=every)

    def download_scope(self, request: HttpRequest) -> SourceScope:
        """The sources whose rows' bytes the user may have (Django's view permission has always included them)."""
        every = [self._permission("view"), self._permission("change")]
        return source_scope(request.user, Level.DOWNLOAD, every_source_permissions=every)

    def manage_scope(self, request: HttpRequest) -> SourceScope:
        """The sources whose rows the user may change, and whose actions they may run."""
        every = [self._permission("change"), self._permission("add"), self._permission("delete")]
        return source_scope(request.user, Level.MANAGE, every_source_permissions=every)

    def source_id_of(self, obj) -> int | None:
        if self.source_path == "pk":
            return obj.pk
        *hops, last = self.source_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop)
        return getattr(obj, f"{last}_id")

    # Rows -----------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest):
        return self.visible_scope(request).filter(super().get_queryset(request), self.source_path)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self.manage_scope(request).allows(self.source_id_of(obj)))

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or self.manage_scope(request).allows(self.source_id_of(obj)))

    def get_actions(self, request: HttpRequest):
        # Each action gets the selected rows it may act on: those the user may manage, or for an
        # action that only reads (permission "view" or "download"), those of its level.
        return {
            name: (self._scoped_action(func), name, description)
            for name, (func, name, description) in super().get_actions(request).items()
        }

    def action_scope(self, request: HttpRequest, func) -> SourceScope:
        needs = set(getattr(func, "allowed_permissions", ()))
        if needs <= {"view"}:
            return self.visible_scope(request)
        if needs <= {"view", "download"}:
            return self.download_scope(request)
        return self.manage_scope(request)

    @staticmethod
    def _scoped_action(func):
        @functools.wraps(func)
        def scoped(modeladmin, request, queryset):
            queryset = modeladmin.action_scope(request, func).filter(queryset, modeladmin.source_path)
            return func(modeladmin, request, queryset)

        return scoped

    # What the pages offer -------------------------------------------------------------------

    def get_list_filter(self, request: HttpRequest):
        return [self._source_filter(item) for item in super().get_list_filter(request)]

    def _source_filter(self, item):
        if isinstance(item, str) and get_fields_from_path(self.model, item)[-1].related_model is Source:
            return (item, SourceListFilter)
        return item

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Source:
            kwargs["queryset"] = self.manage_scope(request).filter(Source.objects.order_by("slug"), "pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

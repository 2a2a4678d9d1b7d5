"""Access by source: which sources a user may use in the admin, and at which level.

One answer for the whole admin: `source_scope(user, level, every_source_permission)` says which
sources' rows the user may use at a level (a SourceScope, applied to a queryset as
`source_id IN (...)`). A user's grants (their own and their groups') are read once per request,
in one query, and kept on the user object Django loads for that request.

How Django's model permissions combine with grants (docs/admin.md, "Access by source"):

- a superuser uses every source at every level;
- a Django model permission keeps its meaning: that ability on every source's rows (as
  django-guardian's global permissions do), including the deliveries refused before a source was
  known; it is what operators who work across tenancies hold;
- a grant gives its level on its source only, and, through SourceAccessBackend, the model
  permissions that level needs, so that a granted staff user needs nothing more.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.backends import BaseBackend
from django.db.models import Q, QuerySet

from .models import SourceAccess

Level = SourceAccess.Level
LEVEL_RANK = {Level.VIEW: 1, Level.DOWNLOAD: 2, Level.MANAGE: 3}

# The model permissions each level gives (on the level's sources only: every list and object is
# filtered by source_scope). A level gives the permissions of the levels below it.
VIEW_PERMISSIONS = frozenset({"documents.view_document", "documents.view_workitem", "documents.view_workitemversion"})
MANAGE_PERMISSIONS = frozenset(
    {
        "sources.view_source",
        "sources.change_source",
        "sources.view_sourcesync",
        "sources.add_sourcesync",
        "sources.change_sourcesync",
        "webhooks.view_webhooktoken",
        "webhooks.add_webhooktoken",
        "webhooks.change_webhooktoken",
        "webhooks.view_delivery",
        "webhooks.change_delivery",  # replay
        "documents.change_document",  # retry sync (resync)
        "documents.change_workitemversion",  # retry the post-processing status call
        "interviews.view_answerprovider",
        "interviews.add_answerprovider",
        "interviews.change_answerprovider",
        "interviews.delete_answerprovider",
    }
)
LEVEL_PERMISSIONS = {
    Level.VIEW: VIEW_PERMISSIONS,
    Level.DOWNLOAD: VIEW_PERMISSIONS,  # downloading is a level of the document's source, not a model permission
    Level.MANAGE: VIEW_PERMISSIONS | MANAGE_PERMISSIONS,
}

LEVELS_CACHE = "_source_access_levels"


def source_levels(user) -> dict[int, str]:
    """The user's level on each source granted to them or to one of their groups (the highest wins).

    One query, once per user object (Django loads the user once per request)."""
    levels = getattr(user, LEVELS_CACHE, None)
    if levels is not None:
        return levels
    levels = {}
    if user.is_authenticated and user.is_active:
        grants = SourceAccess.objects.filter(Q(user_id=user.pk) | Q(group__user=user.pk)).values_list(
            "source_id", "level"
        )
        for source_id, level in grants:
            if LEVEL_RANK[level] > LEVEL_RANK.get(levels.get(source_id), 0):
                levels[source_id] = level
    setattr(user, LEVELS_CACHE, levels)
    return levels


def source_access_forget(user) -> None:
    """Read the user's grants again at the next question (after a grant changed within a request)."""
    if hasattr(user, LEVELS_CACHE):
        delattr(user, LEVELS_CACHE)


def django_permission(user, permission: str) -> bool:
    """Whether the user holds this model permission from Django itself (their own or a group's, or
    as a superuser), not from a grant: such a permission reaches every source."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    # SourceAccessBackend answers neither of these two: they are the permissions Django stores.
    return permission in user.get_user_permissions() or permission in user.get_group_permissions()


@dataclass(frozen=True)
class SourceScope:
    """The sources whose rows a user may use for one purpose: every source, or these ids."""

    every: bool
    ids: frozenset[int]

    def filter(self, queryset: QuerySet, path: str = "source") -> QuerySet:
        """The queryset's rows of these sources; `path` leads from its model to the source
        ("source", "work_item__source", "pk" for sources themselves)."""
        return queryset if self.every else queryset.filter(self.q(path))

    def q(self, path: str = "source") -> Q:
        """The filter of these sources' rows, to combine with others (`path` as for `filter`)."""
        if self.every:
            return Q()
        lookup = f"{path}__in" if path == "pk" else f"{path}_id__in"
        return Q(**{lookup: sorted(self.ids)})

    def allows(self, source_id: int | None) -> bool:
        """Whether a row of this source is in the scope (a row of no source only for every source)."""
        return self.every or (source_id is not None and source_id in self.ids)

    @property
    def empty(self) -> bool:
        return not self.every and not self.ids


EVERY_SOURCE = SourceScope(every=True, ids=frozenset())


def source_scope(user, level: str, *, every_source_permissions: Iterable[str] = ()) -> SourceScope:
    """The sources whose rows `user` may use at `level`: every source for a superuser or for a
    holder of one of `every_source_permissions` from Django itself; otherwise the sources granted
    to them or their groups at `level` or above."""
    if user.is_active and (user.is_superuser or any(django_permission(user, p) for p in every_source_permissions)):
        return EVERY_SOURCE
    rank = LEVEL_RANK[level]
    granted = frozenset(source_id for source_id, held in source_levels(user).items() if LEVEL_RANK[held] >= rank)
    return SourceScope(every=False, ids=granted)


class SourceAccessBackend(BaseBackend):
    """The model permissions a user's grants give (AUTHENTICATION_BACKENDS, after Django's own).

    It authenticates nobody. The permissions it answers are model-level only: which rows they
    reach is source_scope's answer, applied by every admin of a source's rows."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is not None or not user_obj.is_active or user_obj.is_anonymous:
            return set()
        permissions = set()
        for level in set(source_levels(user_obj).values()):
            permissions |= LEVEL_PERMISSIONS[level]
        return permissions

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return any(permission.startswith(f"{app_label}.") for permission in self.get_all_permissions(user_obj))

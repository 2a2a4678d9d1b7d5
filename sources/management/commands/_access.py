"""What source_access_grant and source_access_revoke share: the source and the user or group named."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import CommandError

from sources.models import Source


def access_arguments(parser) -> None:
    parser.add_argument("slug", help="The source's slug.")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="USERNAME", help="A staff user.")
    who.add_argument("--group", metavar="NAME", help="A group (its staff members use the grant).")


def access_parties(options) -> tuple[Source, object | None, Group | None]:
    """The source, user and group the options name; a CommandError naming what does not exist."""
    source = Source.objects.filter(slug=options["slug"]).first()
    if source is None:
        raise CommandError(f"No source with the slug {options['slug']!r}.")
    user = group = None
    if options["user"] is not None:
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: options["user"]}).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
    else:
        group = Group.objects.filter(name=options["group"]).first()
        if group is None:
            raise CommandError(f"No group {options['group']!r}.")
    return source, user, group

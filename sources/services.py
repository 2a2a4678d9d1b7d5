"""Sources: registering an Advance tenancy (its credentials, the password encrypted), saving its
sync settings, re-encrypting its stored secrets with the first key, and granting access to a
source. Each change is recorded in the audit log (audit.services.change_record)."""

import logging
from dataclasses import dataclass

from django.db import transaction

from audit.services import change_record, object_snapshot, object_snapshot_stored

from .crypto import secret_rotate
from .models import Source, SourceAccess, SourceSync

logger = logging.getLogger(__name__)


class SourcePasswordNeeded(ValueError):
    """An existing source's Advance URLs change without its password being given again."""


def source_url_normalise(url: str) -> str:
    """An Advance base URL as stored: without a trailing slash."""
    return url.rstrip("/")


def source_password_check(
    *, source: Source | None, api_base_url: str, auth_base_url: str, principal_password: str | None
) -> None:
    """Raise SourcePasswordNeeded when a stored source moves to other Advance URLs without its
    password: otherwise the stored password would go to the new server at the next log-in."""
    if source is None or source.pk is None or principal_password:
        return
    stored = Source.objects.filter(pk=source.pk).values_list("api_base_url", "auth_base_url").first()
    if stored is not None and stored != (source_url_normalise(api_base_url), source_url_normalise(auth_base_url)):
        raise SourcePasswordNeeded("Changing Advance's URLs needs the password again.")


def source_save(
    *,
    slug: str,
    api_base_url: str,
    auth_base_url: str,
    client_name: str,
    principal_name: str,
    principal_password: str | None,
    name: str | None = None,
    is_active: bool | None = None,
    update: bool = False,
    source: Source | None = None,
    actor=None,
) -> tuple[Source, bool]:
    """Create a source, or with update=True change an existing one. Return it and whether it is new.

    `source` is the instance to write when the caller holds one (the admin, where the slug itself
    may change); otherwise the source with this slug. None for name or is_active keeps the value.
    `actor`: the user who makes the change (None: a command), for the audit log.
    """
    if source is None:
        source = Source.objects.filter(slug=slug).first()
        if source is not None and not update:
            raise ValueError(f"A source with the slug {slug!r} exists already (use --update to change it).")
    source_password_check(
        source=source, api_base_url=api_base_url, auth_base_url=auth_base_url, principal_password=principal_password
    )
    source = source or Source()
    created = source.pk is None
    # As stored: the admin's instance holds the form's values already.
    before = object_snapshot_stored(source)
    source.slug = slug
    if name is not None:
        source.name = name
    if is_active is not None:
        source.is_active = is_active
    source.api_base_url = source_url_normalise(api_base_url)
    source.auth_base_url = source_url_normalise(auth_base_url)
    source.client_name = client_name
    source.principal_name = principal_name
    if principal_password:
        source.set_principal_password(principal_password)
    source.full_clean()
    source.save()
    change_record(
        actor=actor,
        obj=source,
        before=before,
        after=object_snapshot(source),
        action="created" if created else "changed",
    )
    logger.info(
        "source saved: source=%s created=%s password_changed=%s", source.slug, created, bool(principal_password)
    )
    return source, created


def source_sync_save(*, sync: SourceSync, actor=None) -> None:
    """Save a source's sync settings as the instance holds them, and record the change."""
    before = object_snapshot_stored(sync)
    created = sync.pk is None
    sync.save()
    change_record(
        actor=actor, obj=sync, before=before, after=object_snapshot(sync), action="created" if created else "changed"
    )
    logger.info("sync settings saved: source=%s created=%s", sync.source_id, created)


def secrets_rotate() -> tuple[int, list[str]]:
    """Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS, so that the other
    keys can be retired. Return the number of secrets re-encrypted and the sources that failed."""
    rotated, failed = 0, []
    for source in Source.objects.only("pk", "slug", *Source.ENCRYPTED_FIELDS).order_by("pk").iterator():
        for field in Source.ENCRYPTED_FIELDS:
            ciphertext = getattr(source, field)
            if not ciphertext:
                continue
            try:
                fresh = secret_rotate(ciphertext)
            except ValueError:
                failed.append(source.slug)
                logger.error("secret not re-encrypted, no key opens it: source=%s field=%s", source.slug, field)
                continue
            # Only if unchanged meanwhile: a secret saved since is encrypted with the first key already.
            rotated += Source.objects.filter(pk=source.pk, **{field: ciphertext}).update(**{field: fresh})
    logger.info("secrets re-encrypted with the first key: %s (failed sources: %s)", rotated, len(failed))
    return rotated, sorted(set(failed))


# Access by source ----------------------------------------------------------------------------


class SourceAccessRefused(Exception):
    """A grant that cannot be made: to a user who is not staff, or to neither or both of a user and a group."""


@dataclass(frozen=True)
class SourceAccessChange:
    """What a grant or a revocation did: the level before (None: there was no grant) and after."""

    source: Source
    subject: str  # "user NAME" or "group NAME"
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _access_subject(*, user, group) -> str:
    if (user is None) == (group is None):
        raise SourceAccessRefused("Name either a user or a group.")
    return f"user {user.get_username()!r}" if user is not None else f"group {group.name!r}"


def source_access_check(*, user=None, group=None, level: str) -> str:
    """Raise SourceAccessRefused when this grant cannot be made; return who it is for ("user 'ann'")."""
    subject = _access_subject(user=user, group=group)
    if level not in SourceAccess.Level.values:
        raise SourceAccessRefused(f"Unknown level {level!r}: one of {', '.join(SourceAccess.Level.values)}.")
    if user is not None and not user.is_staff:
        raise SourceAccessRefused(f"The {subject} is not staff: only staff users can use the admin.")
    return subject


def source_access_grant(*, source: Source, user=None, group=None, level: str, actor=None) -> SourceAccessChange:
    """Give a staff user, or a group, `level` on the source (replacing the level they had there).

    The one way a grant is made or changed, from the admin and from the command alike."""
    subject = source_access_check(user=user, group=group, level=level)
    with transaction.atomic():
        # The unique constraints decide whether a grant exists already (get_or_create retries the get).
        grant, created = SourceAccess.objects.select_for_update().get_or_create(
            source=source, user=user, group=group, defaults={"level": level}
        )
        before = None if created else grant.level
        if before is not None and before != level:
            grant.level = level
            grant.save(update_fields=["level", "updated_at"])
        if before != level:
            change_record(
                actor=actor,
                obj=grant,
                before={"level": before} if before else None,
                after={"source": source.slug, "subject": subject, "level": level},
                action="granted",
                source=source,
            )
    logger.info("source access granted: source=%s %s level=%s before=%s", source.slug, subject, level, before)
    return SourceAccessChange(source=source, subject=subject, before=before, after=level)


def source_access_revoke(*, source: Source, user=None, group=None, actor=None) -> SourceAccessChange:
    """Take away the grant of a user, or a group, on the source; nothing to do when there is none.

    The one way a grant is removed, from the admin and from the command alike."""
    subject = _access_subject(user=user, group=group)
    with transaction.atomic():
        grant = SourceAccess.objects.select_for_update().filter(source=source, user=user, group=group).first()
        if grant is not None:
            change_record(
                actor=actor,
                obj=grant,
                before={"source": source.slug, "subject": subject, "level": grant.level},
                after=None,
                action="revoked",
                source=source,
            )
            grant.delete()
    before = grant.level if grant is not None else None
    logger.info("source access revoked: source=%s %s before=%s", source.slug, subject, before)
    return SourceAccessChange(source=source, subject=subject, before=before, after=None)

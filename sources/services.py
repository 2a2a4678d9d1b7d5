"""Sources: registering an Advance tenancy (its credentials, the password encrypted), saving its
sync settings, and re-encrypting its stored secrets with the first key. Each change is recorded in
the audit log (audit.services.change_record)."""

import logging

from audit.services import change_record, object_snapshot, object_snapshot_stored

from .crypto import secret_rotate
from .models import Source, SourceSync

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

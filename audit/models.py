"""The audit log: accesses to documents and changes of settings, one row each, never changed.

Append-only: the admin offers no add, change or delete, and on PostgreSQL a trigger (migration
0002) refuses UPDATE, DELETE and TRUNCATE of both tables; only `audit_prune` deletes, rows older
than AUDIT_RETENTION_DAYS, and records that it did.

The rows name users, documents and sources by key without a database constraint
(db_constraint=False, DO_NOTHING): a record outlives what it names, and deleting a user or a
document never has to touch it. What a reader needs after that (the user's name, the document's
name) is copied into the row.
"""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


def _kept_reference(to: str, **options) -> models.ForeignKey:
    """A key to a row that may go away while the record stays."""
    return models.ForeignKey(
        to, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+", **options
    )


class AccessRecord(models.Model):
    """One access by staff to documents: a page, a download, a preview, a text, an export or a search."""

    class Action(models.TextChoices):
        VIEW = "view", "Document page"
        DOWNLOAD = "download", "Download"
        PREVIEW = "preview", "Preview"
        TEXT = "text", "Text"
        EXPORT = "export", "CSV export"
        SEARCH = "search", "Search"
        COMPARE = "compare", "Version comparison"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = _kept_reference(settings.AUTH_USER_MODEL)
    username = models.CharField(max_length=150, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The caller's address, as intake reads it.")
    action = models.CharField(max_length=16, choices=Action.choices)
    # Indexed with the time below (a document's recent accesses), not alone.
    document = _kept_reference("documents.Document", db_index=False)
    document_name = models.CharField(max_length=500, blank=True)
    source = _kept_reference("sources.Source")
    query = models.TextField(blank=True, help_text="The search, the export's filters or the documents selected.")
    count = models.PositiveIntegerField(null=True, blank=True, help_text="Documents matched or exported.")
    status = models.PositiveSmallIntegerField(help_text="The HTTP status answered.")
    detail = models.CharField(max_length=200, blank=True, help_text="What was answered, e.g. a presigned URL.")

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["document", "-at"], name="audit_access_document_at")]
        verbose_name = "access record"

    def __str__(self) -> str:
        return (
            f"{self.username or '-'} {self.action} {self.document_name or self.query[:60]} at {self.at:%Y-%m-%d %H:%M}"
        )


class ChangeRecord(models.Model):
    """One change of a setting (a source, its sync settings, a token, a grant, a hold): who, what,
    before and after. Secrets appear only as "changed"."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = _kept_reference(settings.AUTH_USER_MODEL)
    username = models.CharField(max_length=150, blank=True, help_text="Empty: a command or a task.")
    action = models.CharField(max_length=32, help_text="created, changed, deleted, issued, rotated, revoked, ...")
    content_type = models.ForeignKey(
        ContentType, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField("object", max_length=200, blank=True)
    source = _kept_reference("sources.Source")
    before = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "change record"

    def __str__(self) -> str:
        return f"{self.username or 'command'} {self.action} {self.object_repr} at {self.at:%Y-%m-%d %H:%M}"

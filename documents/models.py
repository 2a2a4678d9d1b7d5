from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F
from django.utils import timezone

from sources.models import Source
from webhooks.models import Delivery


class WorkItem(models.Model):
    """An Advance work item: a user's answers, with a version per completed interview."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="work_items")
    advance_id = models.CharField("work item id", max_length=100)
    name = models.CharField(max_length=300, blank=True)
    # Written only by documents.holds; its history (who, when, why) is WorkItemHold.
    legal_hold = models.BooleanField(
        default=False,
        help_text="Every stored object of its documents carries an S3 legal hold: nobody can delete or overwrite "
        "it until the hold is lifted. Documents stored while it is on are written held.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["source", "advance_id"], name="one_work_item_per_source_and_id")]
        indexes = [
            # The list's order (the admin adds the key): its first page read from the index, not sorted.
            models.Index(fields=["updated_at", "id"], name="work_item_updated"),
            # The held few, found without reading every work item (pruning's keep rule, readiness).
            models.Index(fields=["id"], condition=models.Q(legal_hold=True), name="work_item_held"),
            # The list sorted by each of its columns (tied by the key in the column's direction:
            # core.admin.SortKeyFollowsColumnMixin), read in order from an index, not sorted whole.
            models.Index(fields=["name", "id"], name="work_item_sort_name"),
            models.Index(fields=["advance_id", "id"], name="work_item_sort_advance_id"),
            models.Index(fields=["legal_hold", "id"], name="work_item_sort_legal_hold"),
        ]
        permissions = [("hold_workitem", "Can put and lift a legal hold on a work item")]

    def __str__(self) -> str:
        return self.name or self.advance_id


def newest_version_first(through: str = "") -> list:
    """The order of a work item's versions, newest first: by completion (undated ones last), then by
    when they were recorded. `through` orders other rows by their version ("version__")."""
    return [F(f"{through}completed_at").desc(nulls_last=True), f"-{through}created_at", f"-{through}pk"]


class WorkItemVersionQuerySet(models.QuerySet):
    def newest_first(self) -> "WorkItemVersionQuerySet":
        return self.order_by(*newest_version_first())


class WorkItemVersion(models.Model):
    class RecordedBy(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        RECONCILE = "reconcile", "Reconciliation"

    class DocumentsFrom(models.TextChoices):
        EVENT = "event", "Listed in the event"
        VERSION = "version", "The version's own list"
        LATEST = "latest", "The work item's latest list: may belong to a later version"
        NOT_FETCHABLE = "none", "None: not fetchable (API v1.1 lists only the latest version's documents)"

    class PostProcessing(models.TextChoices):
        NONE = "", "-"
        PENDING = "pending", "Waiting for its documents"
        COMPLETING = "completing", "Completing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="versions")
    advance_id = models.CharField("work item version id", max_length=100)
    delivery = models.ForeignKey(
        Delivery,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="versions",
        help_text="The event that announced this version.",
    )
    completed_at = models.DateTimeField(null=True, blank=True, help_text="The event's createdDate.")
    created_by_id = models.CharField("user id", max_length=100, blank=True)
    created_by_login = models.CharField("user login", max_length=300, blank=True)
    created_by_account_type = models.CharField("account type", max_length=100, blank=True)
    recorded_by = models.CharField(max_length=16, choices=RecordedBy.choices, default=RecordedBy.WEBHOOK)
    documents_from = models.CharField(
        "documents listed from",
        max_length=16,
        choices=DocumentsFrom.choices,
        default=DocumentsFrom.EVENT,
        help_text="'The work item's latest list': Advance offered no list of this version's own documents.",
    )
    post_processing_status = models.CharField(
        max_length=16,
        choices=PostProcessing.choices,
        default=PostProcessing.NONE,
        blank=True,
        help_text="A PostProcessingEvent's version: Advance's post-assembly processing status, set to Complete here.",
    )
    post_processing_attempts = models.PositiveIntegerField(default=0)
    post_processing_error = models.TextField(blank=True)
    post_processing_completed_at = models.DateTimeField(null=True, blank=True)
    post_processing_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the status call should run (next); later than that, the sweep queues it again.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkItemVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["work_item", "advance_id"], name="one_version_per_work_item_and_id")
        ]
        indexes = [
            # The list's order. With the work item's key in it, a list limited to some sources walks
            # it without reading each version's row: the source is the work item's (migration 0021).
            models.Index(fields=["created_at", "id"], include=["work_item"], name="version_created_work_item"),
            # The list sorted by each of its columns (tied by the key in the column's direction:
            # core.admin.SortKeyFollowsColumnMixin), and filtered by each of its filters, read in order
            # from an index and counted from it, not sorted or scanned whole.
            models.Index(fields=["advance_id", "id"], name="version_sort_advance_id"),
            models.Index(fields=["completed_at", "id"], name="version_sort_completed"),
            models.Index(fields=["created_by_login", "id"], name="version_sort_login"),
            models.Index(fields=["recorded_by", "id"], name="version_sort_recorded_by"),
            models.Index(fields=["post_processing_status", "id"], name="version_sort_post_processing"),
            models.Index(fields=["documents_from", "id"], name="version_documents_from"),
        ]

    def __str__(self) -> str:
        return f"{self.work_item} / {self.advance_id}"


class Document(models.Model):
    """One assembled document of a work item version, and where its bytes are stored."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCING = "syncing", "Syncing"
        STORED = "stored", "Stored"
        FAILED = "failed", "Failed"  # refused for good: another origin, 404, too large
        DEAD = "dead", "Dead"  # transient errors until the retries ran out

    version = models.ForeignKey(WorkItemVersion, on_delete=models.CASCADE, related_name="documents")
    # Denormalised from the version for the admin's filters and the storage key.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="documents")
    advance_id = models.CharField("document id", max_length=100)
    name = models.CharField(max_length=300, blank=True)
    url = models.URLField(
        "content URL", max_length=2000, blank=True, help_text="From the event; empty: built from the API base URL."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes.")
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    storage_key = models.CharField(max_length=1024, blank=True)
    storage_version_id = models.CharField(
        "stored object version", max_length=1024, blank=True, help_text="The S3 version id (versioned buckets)."
    )
    retention_mode = models.CharField(
        max_length=16, blank=True, help_text="The S3 Object Lock mode the stored object reported after its write."
    )
    retain_until = models.DateTimeField(
        "retained until",
        null=True,
        blank=True,
        help_text="The stored object cannot be deleted or overwritten before this (as it reported after its write).",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a pending sync should have started; later than that, the sweep queues it again.",
    )
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="A syncing worker renews this; once past, the work is taken back."
    )
    lease_token = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="Names the attempt holding the lease: a worker whose lease was taken over can no longer write.",
    )
    synced_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "advance_id"], name="one_document_per_version_and_id")
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="document_status_due"),
            models.Index(fields=["content_type"], name="document_content_type"),  # the list's type filter
            # A user of some sources: their documents' keys read from the index alone (a search's
            # matches joined to them without reading the table).
            models.Index(fields=["source", "id"], name="document_source"),
            # The dashboard: the documents of each status other than stored counted, and the oldest
            # waiting one, from the index alone; the latest failures, newest first, and the chart's
            # failures of the last days, read from their own index instead of every failed row.
            models.Index(fields=["status", "created_at"], name="document_status_created"),
            models.Index(
                fields=["-updated_at"], condition=models.Q(status__in=["failed", "dead"]), name="document_gave_up"
            ),
            # The retained ones' versions, found without reading every document (pruning's keep rule).
            models.Index(fields=["version"], condition=models.Q(retain_until__isnull=False), name="document_retained"),
            # The list sorted by name, type, size or status (tied by the key in the column's
            # direction: core.admin.SortKeyFollowsColumnMixin), read in order from an index, not sorted whole.
            models.Index(fields=["name", "id"], name="document_sort_name"),
            models.Index(fields=["content_type", "id"], name="document_sort_type"),
            models.Index(fields=["size", "id"], name="document_sort_size"),
            models.Index(fields=["status", "id"], name="document_sort_status"),
        ]

    def __str__(self) -> str:
        return self.filename or self.name or self.advance_id


class WorkItemHold(models.Model):
    """A legal hold put on a work item's documents, or lifted: who, when, why, and what storage answered."""

    class Action(models.TextChoices):
        HOLD = "hold", "Hold put on"
        RELEASE = "release", "Hold lifted"

    work_item = models.ForeignKey(WorkItem, on_delete=models.PROTECT, related_name="holds")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(
        "by", max_length=300, help_text="The user's name when it was done (kept if the user goes), or the command."
    )
    reason = models.TextField(blank=True)
    objects_done = models.PositiveIntegerField("objects changed", default=0)
    objects_failed = models.TextField(
        "objects not changed", blank=True, help_text="Keys storage refused, with its answer; empty when none."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        when = f"{self.created_at:%Y-%m-%d %H:%M}"
        return f"{self.get_action_display()} on {self.work_item} by {self.actor_name} at {when}"


class DocumentAttempt(models.Model):
    """One try at syncing a document: when it ran, how it ended, what Advance answered."""

    class Outcome(models.TextChoices):
        STORED = "stored", "Stored"
        RETRY = "retry", "Will be retried"
        FAILED = "failed", "Failed"
        DEAD = "dead", "Dead"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="attempt_history")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the attempt runs; set by the next one if its worker died."
    )
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, blank=True, help_text="Empty while the attempt runs."
    )
    http_status = models.PositiveSmallIntegerField(
        "HTTP status", null=True, blank=True, help_text="What Advance last answered; empty when no answer came."
    )
    bytes = models.BigIntegerField(null=True, blank=True, help_text="Bytes of the document received.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["document", "-started_at"], name="document_attempt_recent")]

    def __str__(self) -> str:
        return f"{self.document} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome or 'running'}"


class DocumentText(models.Model):
    """The text extracted from a stored document, for full-text search (documents/search/).

    A row of its own, not columns on Document: the sync's hot rows stay lean, and extraction
    writes never contend with the sync's lease updates.
    """

    class Status(models.TextChoices):
        AWAITING = "awaiting", "Awaiting extraction"
        EXTRACTED = "extracted", "Extracted"
        FAILED = "failed", "Failed"
        UNSUPPORTED = "unsupported", "Unsupported type"

    class Reason(models.TextChoices):
        NONE = "", "-"
        NO_TEXT_LAYER = "no_text_layer", "No text layer (a scanned image?)"
        CORRUPT = "corrupt", "Corrupt or unreadable file"
        TOO_LARGE = "too_large", "Larger than the extraction limit"
        TIMEOUT = "timeout", "Took longer than the time budget"
        MEMORY = "memory", "Needed more memory than the limit"
        STORAGE = "storage", "Storage could not be read"
        UNSUPPORTED_TYPE = "unsupported_type", "A type without a text extractor"
        ERROR = "error", "Unexpected error"

    document = models.OneToOneField(Document, on_delete=models.CASCADE, primary_key=True, related_name="text_record")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AWAITING, db_index=True)
    reason = models.CharField(max_length=32, choices=Reason.choices, default=Reason.NONE, blank=True)
    detail = models.TextField(blank=True, help_text="What the extractor said, for a failure.")
    text = models.TextField(blank=True, help_text="At most SEARCH_TEXT_MAX_CHARS characters.")
    truncated = models.BooleanField(default=False, help_text="The document had more text than was kept.")
    config = models.CharField(
        "text search configuration", max_length=64, blank=True, help_text="PostgreSQL's, e.g. english or simple."
    )
    # PostgreSQL only (a GIN index made by the migration there); empty on SQLite, which searches the text.
    search_vector = SearchVectorField(null=True, editable=False)
    # The document's, written with the vector: a search by a user of some sources limits the texts
    # it finds (and ranks) to theirs in the one scan of the GIN index, with no join.
    source = models.ForeignKey(
        "sources.Source", on_delete=models.CASCADE, null=True, editable=False, related_name="+", db_index=False
    )
    extractor_version = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True, help_text="How long the last extraction took.")
    queued_at = models.DateTimeField(null=True, blank=True)
    extracted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "document text"
        verbose_name_plural = "document texts"
        # A document's text is read in the admin by whoever may view the document (its bytes are
        # a download away): permissions of its own would only suggest a control that is not there.
        default_permissions = ()

    def __str__(self) -> str:
        return f"text of document {self.document_id}: {self.status}"


class StatusCount(models.Model):
    """A change in how many rows of one kind and source have one status; a row's counts are the sum
    of its (kind, source, status) rows (documents.selectors.status_counts).

    Written on PostgreSQL by triggers (migration 0018), in the transaction that changes the rows
    they count: a statement adds its net change as new rows, so no writer waits for another on a
    shared counter row, and `status_counts_compact` (beat) sums them back to one row per group.
    Not written on SQLite: the embedded run counts its few rows directly.
    """

    class Kind(models.TextChoices):
        DOCUMENT = "document", "Document"  # every status
        TEXT = "text", "Document text"  # every status, by the document's source
        EVENT = "event", "Event"  # failed deliveries only: the other statuses are the intake's hot path

    # No foreign key constraint: a trigger's insert need not lock the source's row.
    source = models.ForeignKey(
        Source, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16)
    count = models.BigIntegerField()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.status} of source {self.source_id}: {self.count:+d}"

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from sources.models import Source


class WebhookToken(models.Model):
    """A key Advance sends in the Authorization header. Only its SHA-256 digest is stored."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, help_text="What this token is for, e.g. 'production webhook'.")
    lookup = models.CharField(
        "key prefix", max_length=16, db_index=True, editable=False, help_text="The key's first characters."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.lookup}…)"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Delivery(models.Model):
    """One request to the webhook endpoint, as received: the delivery log.

    The first accepted delivery of an eventId is *the* event of its source; the database keeps
    that unique. Later deliveries of the same eventId are logged as duplicates pointing at it.
    """

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        DUPLICATE = "duplicate", "Duplicate"
        REJECTED = "rejected", "Rejected"
        ANSWERED = "answered", "Answered"  # an interview call, answered by its provider
        FALLBACK = "fallback", "Answered with fallback"  # the provider failed or ran out of time

    # Statuses of a row that stands for its event; one such row per (source, eventId).
    EVENT_STATUSES = (Status.ACCEPTED, Status.PROCESSED, Status.FAILED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries")
    token = models.ForeignKey(WebhookToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # A column with a constant default has it in the database too (db_default): the intake's
    # INSERT leaves out what an event does not set (webhooks.services.intake._delivery_insert).
    event_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    event_type = models.CharField(max_length=100, blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField("answer status")
    rejection_cause = models.CharField(max_length=500, blank=True, default="", db_default="")
    method = models.CharField(max_length=10, default="POST", db_default="POST")
    query_string = models.TextField(blank=True, default="", db_default="")
    raw_body = models.BinaryField(blank=True, default=b"")
    headers = models.JSONField(default=dict, blank=True, help_text="Request headers, credentials removed.")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    duplicate_of = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="duplicates")
    received_at = models.DateTimeField(default=timezone.now, db_default=Now(), db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, db_default=0, help_text="Processing attempts so far.")
    due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When processing should next run; later than that, the sweep queues it again. "
        "Empty on an accepted event: stored, not published yet (the relay publishes it).",
    )
    last_error = models.TextField(blank=True, default="", db_default="")
    # Interview calls, answered while Advance waits:
    event_name = models.CharField(
        max_length=200, blank=True, default="", db_default="", help_text="The interview event's name."
    )
    answered_by = models.CharField(
        max_length=300, blank=True, default="", db_default="", help_text="The answer provider that answered."
    )
    duration_ms = models.PositiveIntegerField("answer time (ms)", null=True, blank=True)
    answer_size = models.PositiveIntegerField("answer size (bytes)", null=True, blank=True)
    # A call an HMAC source's method refused is kept (bounded per source) with the credentials
    # removed from it encrypted here, so that it can be checked again once the scheme is right.
    # Emptied when it is accepted or no longer kept: never a code in plaintext.
    credentials_encrypted = models.TextField(blank=True, default="", db_default="", editable=False)
    accepted_as = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="A refused call, checked again and accepted: the delivery it became.",
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "event_id"],
                condition=Q(status__in=["accepted", "processed", "failed"]),
                name="one_event_per_source_and_event_id",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="delivery_status_received"),
            # The outbox: accepted events no message has announced yet (webhooks.relay).
            models.Index(
                fields=["id"], condition=Q(status="accepted", due_at__isnull=True), name="delivery_unpublished"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'delivery'} {self.event_id or self.public_id}"

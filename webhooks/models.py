import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from core.origins import url_origin

from .crypto import secret_decrypt, secret_encrypt

# An HTTP header name (RFC 9110 token, as webhook senders use them).
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,99}")


class Source(models.Model):
    """One HotDocs Advance tenancy that sends us webhooks, with the credentials to call it back."""

    class AuthMethod(models.TextChoices):
        TOKEN = "token", "Access token (a webhook token of ours in the Authorization header)"
        HMAC = "hmac", "HMAC (a code computed with a secret Advance generates)"

    class HmacAlgorithm(models.TextChoices):
        SHA256 = "sha256", "HMAC-SHA256"
        SHA1 = "sha1", "HMAC-SHA1"
        SHA512 = "sha512", "HMAC-SHA512"

    class HmacEncoding(models.TextChoices):
        BASE64 = "base64", "Base64"
        HEX = "hex", "Hex"

    class HmacSignedMaterial(models.TextChoices):
        BODY = "body", "The raw body"
        BODY_WITHOUT_TOKEN = "body-without-token", "The raw body without its token form field"
        JSON_FIELD = "json-field", "The value of the form field holding the event as JSON"
        SHARED_VALUE = "shared-value", "No HMAC: the code is the secret itself (a shared value)"
        TIMESTAMP_BODY = "timestamp.body", "{timestamp}.{body}, the timestamp from a header"
        STANDARD_WEBHOOKS = "standard-webhooks", "Standard Webhooks: {id}.{timestamp}.{body} in webhook-* headers"
        GITHUB = "github", "GitHub: X-Hub-Signature-256: sha256=<hex>"

    class HmacCodeLocation(models.TextChoices):
        FORM_FIELD = "form", "Form field 'token' (or query parameter 'token')"
        AUTHORIZATION = "authorization", "Authorization header"
        HEADER = "header", "The header named below"

    slug = models.SlugField(max_length=64, unique=True, help_text="Short name, part of every stored document's key.")
    name = models.CharField(max_length=200, blank=True)
    api_base_url = models.URLField(
        "API base URL",
        max_length=500,
        help_text="e.g. https://acme.hotdocsadvance.com/api/rest/v1.1. Only this origin is ever fetched.",
    )
    auth_base_url = models.URLField(
        "auth base URL", max_length=500, help_text="e.g. https://acme.hotdocsadvance.com/auth"
    )
    client_name = models.CharField(max_length=200)
    principal_name = models.CharField("service principal name", max_length=200)
    principal_password_encrypted = models.TextField(blank=True, editable=False)
    is_active = models.BooleanField("active", default=True, help_text="Inactive sources' tokens are refused.")
    # How Advance proves a webhook call comes from this tenancy. Advance does not document its
    # HMAC (algorithm, encoding, signed material), so every part of the verifier is a setting.
    auth_method = models.CharField(
        "authentication method",
        max_length=16,
        choices=AuthMethod.choices,
        default=AuthMethod.TOKEN,
        help_text="Token: Advance calls /webhooks/advance/ with one of our tokens. "
        "HMAC: Advance calls /webhooks/advance/<slug>/ with a code made with its secret.",
    )
    hmac_algorithm = models.CharField(
        "HMAC algorithm", max_length=16, choices=HmacAlgorithm.choices, default=HmacAlgorithm.SHA256
    )
    hmac_encoding = models.CharField(
        "HMAC code encoding",
        max_length=16,
        choices=HmacEncoding.choices,
        default=HmacEncoding.BASE64,
        help_text="Base64 (standard or URL-safe, padding optional) or hex (any case).",
    )
    # The default is the body without the token field: for a JSON body the same as the raw body, and
    # the one of the two that can match a form body carrying its own code (Advance's HMAC).
    hmac_signed_material = models.CharField(
        "HMAC signed material",
        max_length=32,
        choices=HmacSignedMaterial.choices,
        default=HmacSignedMaterial.BODY_WITHOUT_TOKEN,
    )
    hmac_code_location = models.CharField(
        "HMAC code location",
        max_length=16,
        choices=HmacCodeLocation.choices,
        default=HmacCodeLocation.FORM_FIELD,
        help_text="Where the code is read. Ignored by Standard Webhooks and GitHub, whose headers are fixed.",
    )
    hmac_header_name = models.CharField(
        "HMAC code header", max_length=100, blank=True, help_text="The header carrying the code, e.g. X-Signature."
    )
    hmac_prefix = models.CharField(
        "HMAC code prefix", max_length=32, blank=True, help_text="Removed from the code if present, e.g. sha256= or v1,"
    )
    hmac_timestamp_header = models.CharField(
        "HMAC timestamp header",
        max_length=100,
        default="webhook-timestamp",
        help_text="For {timestamp}.{body}: the header carrying the Unix timestamp that is signed.",
    )
    hmac_tolerance_seconds = models.PositiveIntegerField(
        "HMAC timestamp tolerance (s)",
        default=300,
        help_text="Signed timestamps further than this from our clock are refused (replay protection).",
    )
    # Two secrets, because Advance regenerates its secret at any moment with no overlap: calls
    # signed with the old one may still be on their way while the new one is entered here.
    hmac_secret_encrypted = models.TextField(blank=True, editable=False)
    hmac_previous_secret_encrypted = models.TextField(blank=True, editable=False)
    hmac_secret_changed_at = models.DateTimeField("HMAC secret changed", null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The fields that hold secrets encrypted with webhooks.crypto (re-encrypted by secrets_rotate).
    ENCRYPTED_FIELDS = ("principal_password_encrypted", "hmac_secret_encrypted", "hmac_previous_secret_encrypted")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug

    @property
    def principal_password(self) -> str:
        if not self.principal_password_encrypted:
            return ""
        return secret_decrypt(self.principal_password_encrypted)

    def set_principal_password(self, password: str) -> None:
        self.principal_password_encrypted = secret_encrypt(password)

    def clean(self) -> None:
        for name in ("api_base_url", "auth_base_url"):
            if getattr(self, name) and url_origin(getattr(self, name))[2] == -1:
                raise ValidationError(
                    {name: "Must be a plain URL: no user@, backslash, whitespace or non-ASCII (write xn-- names)."}
                )
        if self.api_base_url and self.auth_base_url and url_origin(self.auth_base_url) != url_origin(self.api_base_url):
            # The password goes to the auth URL: it must be the API's own server (as it is for the
            # cloud and on-premise editions), never another one.
            raise ValidationError({"auth_base_url": "Must have the API base URL's scheme, host and port."})
        if (
            self.auth_method == self.AuthMethod.HMAC
            and self.hmac_signed_material
            not in (self.HmacSignedMaterial.STANDARD_WEBHOOKS, self.HmacSignedMaterial.GITHUB)
            and self.hmac_code_location == self.HmacCodeLocation.HEADER
            and not self.hmac_header_name.strip()
        ):
            raise ValidationError({"hmac_header_name": "Name the header that carries the code."})
        for field in ("hmac_header_name", "hmac_timestamp_header"):
            value = getattr(self, field).strip()
            if value and not HEADER_NAME.fullmatch(value):
                raise ValidationError({field: "Not a header name (letters, digits and -)."})

    @property
    def hmac_secrets(self) -> list[str]:
        """The secrets a code may be made with: the current one, then the previous one if kept."""
        encrypted = (self.hmac_secret_encrypted, self.hmac_previous_secret_encrypted)
        return [secret_decrypt(value) for value in encrypted if value]

    def set_hmac_secret(self, secret: str, *, keep_previous: bool = True) -> None:
        """Make secret the current one; the current one becomes the previous one, or is dropped."""
        self.hmac_previous_secret_encrypted = self.hmac_secret_encrypted if keep_previous else ""
        self.hmac_secret_encrypted = secret_encrypt(secret)
        self.hmac_secret_changed_at = timezone.now()

    def drop_previous_hmac_secret(self) -> None:
        self.hmac_previous_secret_encrypted = ""


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

"""Sources: one HotDocs Advance tenancy each (its credentials, how its webhook calls authenticate), and
its sync settings."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connection, models
from django.utils import timezone

from core.origins import url_origin

from .crypto import secret_decrypt, secret_encrypt
from .status_call import status_path_refusal

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

    # The fields that hold secrets encrypted with sources.crypto (re-encrypted by secrets_rotate).
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


# S3 allows longer; a century is past any records schedule, and a typo of days for years stays visible.
RETENTION_MAX_DAYS = 36500


def retention_refusal(mode: str, days: int | None) -> str | None:
    """Why a retention mode and period do not go together, or None: a mode needs a period and the reverse."""
    if mode and not days:
        return "A retention mode needs a period of at least one day."
    if not mode and days:
        return "A retention period needs a mode (governance or compliance)."
    if days and days > RETENTION_MAX_DAYS:
        return f"At most {RETENTION_MAX_DAYS} days."
    return None


class SourceSync(models.Model):
    """How one source's documents are fetched beyond the webhook: post-processing, reconciliation, list calls.

    A row beside the source (not on it): the sync's settings and reconciliation's state are written
    by the sync's own code, apart from the tenancy's credentials and webhook settings.
    """

    class DocumentsScope(models.TextChoices):
        AUTO = "auto", "By the API base URL: v2.0 and later the version's own list, v1.x the latest"
        VERSION = "version", "Only the version's own list (API v2.0)"
        LATEST = "latest", "Only the work item's latest list (API v1.1)"

    class StatusMethod(models.TextChoices):
        PUT = "PUT", "PUT"
        POST = "POST", "POST"
        PATCH = "PATCH", "PATCH"

    class RetentionMode(models.TextChoices):
        OFF = "", "Off: stored objects are not locked"
        GOVERNANCE = "governance", "Governance: only users with the bypass permission can delete or shorten it"
        COMPLIANCE = "compliance", "Compliance: nobody, not even the bucket's root user, can delete or shorten it"

    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="sync")
    documents_scope = models.CharField(
        "documents list when an event names none",
        max_length=16,
        choices=DocumentsScope.choices,
        default=DocumentsScope.AUTO,
        help_text="Advance v2.0 lists a version's own documents; v1.1 only the latest completed version's.",
    )
    post_processing_status_path = models.CharField(
        max_length=500,
        blank=True,
        help_text=(
            "Empty: off. The call that sets a version's post-assembly processing status to Complete, "
            "relative to the API base URL, with {workItemId} and {versionId}; Advance's help does not name it. "
            "Without it, a registered PostProcessingEvent leaves work items 'post-assembly processing is in progress'."
        ),
    )
    post_processing_status_method = models.CharField(
        max_length=8, choices=StatusMethod.choices, default=StatusMethod.PUT
    )
    post_processing_status_body = models.TextField(
        blank=True,
        default='{"status": "Complete"}',
        help_text="JSON sent with the call ({workItemId} and {versionId} are replaced); empty: no body.",
    )
    reconcile_interval_minutes = models.PositiveIntegerField(
        default=15, help_text="How often beat asks Advance for completed versions no webhook announced; 0: never."
    )
    reconcile_query = models.CharField(
        max_length=500,
        blank=True,
        default="filter=Completed&modifiedSince={since}",
        help_text="Query string of GET /WorkItems ({since} is the watermark, ISO 8601); skip and take are added.",
    )
    reconcile_watermark = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Versions completed before this are not looked for again; it moves only over what was recorded.",
    )
    reconcile_next_at = models.DateTimeField(null=True, blank=True, help_text="When beat reconciles next.")
    reconcile_last_run_at = models.DateTimeField(null=True, blank=True)
    reconcile_last_error = models.TextField(blank=True)
    search_config = models.CharField(
        "text search language",
        max_length=63,
        blank=True,
        validators=[
            RegexValidator(r"^[a-z_]+$", "A PostgreSQL text search configuration's name: english, german, simple...")
        ],
        help_text="How this source's documents' words are stemmed for search (PostgreSQL's configuration: english, "
        "german, french, simple for no stemming...). Blank: SEARCH_CONFIG. After a change, run documents_reindex.",
    )
    # S3 Object Lock of every object stored for this source from now on; written only by
    # documents.retention.source_retention_set, which refuses it where storage cannot lock.
    retention_mode = models.CharField(
        "retention (S3 Object Lock)",
        max_length=16,
        choices=RetentionMode.choices,
        default=RetentionMode.OFF,
        blank=True,
        help_text="Each document stored from now on is locked in S3 for the period below: it cannot be deleted "
        "or overwritten until then. Objects stored before keep what they were written with.",
    )
    retention_days = models.PositiveIntegerField(
        "retention period (days)", null=True, blank=True, help_text="Counted from when each document is stored."
    )
    retention_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "sync settings"
        verbose_name_plural = "sync settings"

    def __str__(self) -> str:
        return f"sync settings of {self.source}"

    def clean(self) -> None:
        super().clean()
        if refusal := retention_refusal(self.retention_mode, self.retention_days):
            raise ValidationError({"retention_days": refusal})
        if refusal := status_path_refusal(self.post_processing_status_path):
            raise ValidationError({"post_processing_status_path": refusal})
        if self.search_config and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = %s)", [self.search_config])
                if not cursor.fetchone()[0]:
                    raise ValidationError(
                        {"search_config": f"PostgreSQL has no text search configuration {self.search_config!r}."}
                    )


class SourceAccess(models.Model):
    """A grant: a staff user, or a group, may use one source's rows in the admin at a level.

    Written only through sources.services.source_access_grant and source_access_revoke.
    """

    class Level(models.TextChoices):
        VIEW = "view", "View: list, search, read the text, see the versions"
        DOWNLOAD = "download", "Download: view, and download or preview the bytes, export as CSV"
        MANAGE = "manage", "Manage: download, and the source's settings, tokens, replays, resyncs, reconcile"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="access_grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="source_access_grants"
    )
    group = models.ForeignKey(
        "auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="source_access_grants"
    )
    level = models.CharField(max_length=16, choices=Level.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "source access grant"
        verbose_name_plural = "source access grants"
        ordering = ["source", "level"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="source_access_to_a_user_or_a_group",
            ),
            models.UniqueConstraint(
                fields=["source", "user"], condition=models.Q(user__isnull=False), name="one_grant_per_source_and_user"
            ),
            models.UniqueConstraint(
                fields=["source", "group"],
                condition=models.Q(group__isnull=False),
                name="one_grant_per_source_and_group",
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{who}: {self.level} on {self.source}"

"""Admin for sources and their sync settings.

The one module of this app that imports webhooks and documents: a source's page composes what
each app does with it (webhooks: the tokens, the webhook URLs, the HMAC settings, refused calls
checked again; documents: test the connection, reconcile now, the post-processing warning). Every
change goes through a service.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from audit.admin import DeletionRecordedMixin
from documents.admin.columns import archive_text
from documents.connection import source_connection_check
from documents.object_lock import storage_lock_refusal
from documents.reconcile import sources_reconcile_enqueue
from documents.retention import RetentionRefused, source_retention_refusal, source_retention_set
from documents.selectors import source_archive
from documents.storage import StorageUnavailable
from webhooks.admin import WebhookTokenInline, source_webhook_context
from webhooks.services import source_auth_set, source_hmac_secret_check
from webhooks.services.refusals import deliveries_refused_recheck

from .access import Level, source_access_forget
from .admin_guards import SourceGuardsMixin
from .models import Source, SourceAccess, SourceSync
from .selectors import source_access_list, source_sync_find
from .services import (
    SourceAccessRefused,
    SourcePasswordNeeded,
    source_access_check,
    source_access_grant,
    source_access_revoke,
    source_password_check,
    source_save,
    source_sync_save,
)

# Sources -----------------------------------------------------------------------------------


def https_url_formfield(db_field, **kwargs):
    # Advance is reached over HTTPS: a URL typed without a scheme means https (Django 6's default).
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


# The source's authentication settings the admin edits (the secrets are write-only form fields).
HMAC_SETTINGS_FIELDS = [
    "auth_method",
    "hmac_algorithm",
    "hmac_encoding",
    "hmac_signed_material",
    "hmac_code_location",
    "hmac_header_name",
    "hmac_prefix",
    "hmac_timestamp_header",
    "hmac_tolerance_seconds",
]


# The form's write-only fields, and what the page of a user who may only view the source shows in
# their place (the password's model attribute would decrypt it).
WRITE_ONLY_FIELDS = {
    "principal_password": "password_stored",
    "hmac_secret": "hmac_secret_stored",
    "hmac_keep_previous": None,
    "hmac_drop_previous": None,
}


def secret_formfield(label: str, help_text: str) -> forms.CharField:
    """A write-only field for a secret: never rendered back, taken as typed."""
    widget = forms.PasswordInput(render_value=False)
    return forms.CharField(label=label, widget=widget, strip=False, required=False, help_text=help_text)


class SourceAdminForm(forms.ModelForm):
    """Validates what the source page posts; SourceAdmin.save_model writes it through the services."""

    principal_password = secret_formfield("Service principal password", "Stored encrypted, never shown again.")
    # HMAC: the secret Advance generated, write-only like the password.
    hmac_secret = secret_formfield(
        "New HMAC secret", "The secret Advance shows once. Stored encrypted, never shown again."
    )
    hmac_keep_previous = forms.BooleanField(
        label="Keep accepting the secret it replaces",
        required=False,
        initial=True,
        help_text="Calls Advance signed before it regenerated the secret stay accepted until you drop it.",
    )
    hmac_drop_previous = forms.BooleanField(
        label="Drop the previous HMAC secret",
        required=False,
        help_text="Calls made with the secret replaced last are refused from now on.",
    )

    class Meta:
        model = Source
        formfield_callback = https_url_formfield
        fields = [
            "slug",
            "name",
            "is_active",
            "api_base_url",
            "auth_base_url",
            "client_name",
            "principal_name",
            *HMAC_SETTINGS_FIELDS,
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["principal_password"]
        if self.instance.pk is None:
            field.required = True
        elif self.instance.principal_password_encrypted:
            field.help_text = "A password is stored. Leave empty to keep it; it is never shown."
        else:
            field.help_text = "No password is stored yet."
        # A form posted without them (a script, an older page) keeps the source's values. (The form
        # of a user who may only view the source has none of them.)
        for name in HMAC_SETTINGS_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
        if self.instance.hmac_secret_encrypted:
            kept = "; the previous one is still accepted" if self.instance.hmac_previous_secret_encrypted else ""
            self.fields["hmac_secret"].help_text = f"A secret is stored{kept}. Leave empty to keep it; never shown."

    def clean(self):
        cleaned = super().clean()
        if "api_base_url" in cleaned and "auth_base_url" in cleaned:
            try:
                # source_save's own rule, asked before anything is written.
                source_password_check(
                    source=self.instance,
                    api_base_url=cleaned["api_base_url"],
                    auth_base_url=cleaned["auth_base_url"],
                    principal_password=cleaned.get("principal_password"),
                )
            except SourcePasswordNeeded as error:
                self.add_error("principal_password", str(error))
        # The source as it would be saved, asked the services' own question before anything is written.
        candidate = Source(**self.hmac_settings(), hmac_secret_encrypted=self.instance.hmac_secret_encrypted)
        try:
            source_hmac_secret_check(source=candidate, secret=cleaned.get("hmac_secret"))
        except ValueError as error:
            self.add_error("hmac_secret", str(error))
        return cleaned

    def hmac_settings(self) -> dict[str, object]:
        """The authentication settings posted, the source's own where the form left one out."""
        cleaned = self.cleaned_data
        return {name: cleaned.get(name) or getattr(self.instance, name) for name in HMAC_SETTINGS_FIELDS}


def source_access_context(source: Source) -> dict[str, object]:
    """Who may use the source, for its page (templates/admin/sources/source/), with links to the grants."""
    return {
        "access_grants": source_access_list(source=source),
        "access_url": reverse("admin:sources_sourceaccess_changelist")
        + "?"
        + urlencode({"source__id__exact": source.pk}),
        "access_add_url": reverse("admin:sources_sourceaccess_add") + "?" + urlencode({"source": source.pk}),
    }


@admin.register(Source)
class SourceAdmin(SourceGuardsMixin, DeletionRecordedMixin, admin.ModelAdmin):
    source_path = "pk"
    view_level = Level.MANAGE
    form = SourceAdminForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["slug", "name", "api_base_url", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name", "api_base_url", "client_name", "principal_name"]
    inlines = [WebhookTokenInline]
    actions = ["recheck_refused", "source_test_connection", "source_reconcile_now"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "is_active"]}),
        (
            "HotDocs Advance",
            {"fields": ["api_base_url", "auth_base_url", "client_name", "principal_name", "principal_password"]},
        ),
        (
            "Webhook authentication",
            {
                "fields": [
                    "auth_method",
                    "hmac_secret",
                    "hmac_keep_previous",
                    "hmac_drop_previous",
                    *HMAC_SETTINGS_FIELDS[1:],
                ],
                "description": "HMAC sources are called at /webhooks/advance/&lt;slug&gt;/. Advance does not "
                "document its HMAC: the settings below say how the code is made and where it travels.",
            },
        ),
    ]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return self.fieldsets
        fieldsets = [
            *self.fieldsets,
            ("Archive", {"fields": ["archive_state"]}),
            ("History", {"fields": ["created_at", "updated_at"]}),
        ]
        if self.has_change_permission(request, obj):
            return fieldsets
        # Read only: whether a secret is stored is said; the secret is never shown, not even encrypted.
        read_only = []
        for name, options in fieldsets:
            fields = [WRITE_ONLY_FIELDS.get(field, field) for field in options["fields"]]
            read_only.append((name, {**options, "fields": [field for field in fields if field]}))
        return read_only

    @admin.display(description="legal holds and retention")
    def archive_state(self, source: Source) -> str:
        state = source_archive(source_id=source.pk)
        text = archive_text(state, what="this source's documents")
        if state.locked:
            return format_html("{} This source cannot be deleted.", text)
        return text

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A source whose stored objects are retained or held keeps its rows: they say what is locked and why.
        if obj is not None and source_archive(source_id=obj.pk).locked:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request: HttpRequest):
        # The list's "Delete selected" asks no has_delete_permission per source: a locked one is named
        # as protected, which refuses the whole deletion; shown alone, as Django shows missing
        # permissions first and they would hide why.
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        locked = [
            f"{source}: its stored documents are retained or under a legal hold"
            for source in objs
            if source_archive(source_id=source.pk).locked
        ]
        if locked:
            return to_delete, model_count, set(), [*locked, *protected]
        return to_delete, model_count, perms_needed, protected

    @admin.display(description="service principal password")
    def password_stored(self, source: Source) -> str:
        return "A password is stored." if source.principal_password_encrypted else "No password is stored."

    @admin.display(description="HMAC secret")
    def hmac_secret_stored(self, source: Source) -> str:
        if not source.hmac_secret_encrypted:
            return "No HMAC secret is stored."
        kept = "; the previous one is still accepted" if source.hmac_previous_secret_encrypted else ""
        return f"An HMAC secret is stored{kept}."

    def save_model(self, request: HttpRequest, obj: Source, form: SourceAdminForm, change: bool) -> None:
        # Through the services, so their rules and log lines hold here as for the commands.
        data = form.cleaned_data
        source_save(
            source=obj,
            slug=data["slug"],
            name=data["name"],
            is_active=data["is_active"],
            api_base_url=data["api_base_url"],
            auth_base_url=data["auth_base_url"],
            client_name=data["client_name"],
            principal_name=data["principal_name"],
            principal_password=data.get("principal_password") or None,
            update=change,
            actor=request.user,
        )
        auth_method = settings = None
        if set(form.changed_data) & set(HMAC_SETTINGS_FIELDS):
            posted = form.hmac_settings()
            auth_method = posted.pop("auth_method")
            settings = {name.removeprefix("hmac_"): value for name, value in posted.items()}
        source_auth_set(
            source=obj,
            auth_method=auth_method,
            hmac_settings=settings,
            secret=data.get("hmac_secret") or None,
            keep_previous=bool(data.get("hmac_keep_previous")),
            drop_previous=bool(data.get("hmac_drop_previous")),
            actor=request.user,
        )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["created_at", "updated_at", "archive_state"] if obj is not None else []

    def get_inlines(self, request: HttpRequest, obj):
        # A new source has no tokens yet.
        return self.inlines if obj is not None else []

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        # Rendered only once the permission was checked and the source found.
        if obj is not None and obj.pk and request.method == "GET":
            notice = source_post_processing_notice(source_id=obj.pk)
            if notice:
                # Shown in this very page: a message added and rendered within one request is not kept.
                messages.warning(request, notice)
        if obj is not None and obj.pk:
            context.update(source_webhook_context(request, obj))
            if request.user.has_perm("sources.view_sourceaccess"):
                context.update(source_access_context(obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.action(description="Re-check refused calls (against the current HMAC settings)", permissions=["change"])
    def recheck_refused(self, request: HttpRequest, queryset) -> None:
        accepted = refused = 0
        for source in queryset:
            done = deliveries_refused_recheck(source=source)
            accepted, refused = accepted + done[0], refused + done[1]
        message = f"Refused calls checked again: {accepted} accepted, {refused} still refused."
        self.message_user(request, message, messages.SUCCESS if accepted else messages.WARNING)

    @admin.action(description="Test connection to Advance (log in)", permissions=["change"])
    def source_test_connection(self, request: HttpRequest, queryset) -> None:
        for source in queryset:
            check = source_connection_check(source=source)
            if check.ok:
                message = f"{source.slug}: logged in to Advance at {source.auth_base_url}."
                self.message_user(request, message, messages.SUCCESS)
            else:
                message = f"{source.slug}: log-in at {source.auth_base_url} failed: {check.error}"
                self.message_user(request, message, messages.ERROR)

    @admin.action(description="Reconcile with Advance now", permissions=["change"])
    def source_reconcile_now(self, request: HttpRequest, queryset) -> None:
        queued = sources_reconcile_enqueue(sources=queryset)
        self.message_user(request, f"Queued a reconciliation of {queued} source(s).", messages.SUCCESS)


# Sync settings -----------------------------------------------------------------------------

POST_PROCESSING_WARNING = (
    "No post-assembly processing status call is set: if this tenancy registers a PostProcessingEvent webhook, "
    "its documents are stored but every work item stays 'post-assembly processing is in progress' in Advance. "
    "Advance's help does not name the call; enter the one your Advance offers. The call writes, so the source's "
    "API client needs the Command (or Root) scope: with Query it can only read."
)


def post_processing_call_missing(sync: SourceSync | None) -> bool:
    return sync is None or not sync.post_processing_status_path


def source_post_processing_notice(*, source_id: int) -> str | None:
    """The source page's warning when no post-processing status call is set, with a link to set one."""
    sync = source_sync_find(source_id=source_id)
    if not post_processing_call_missing(sync):
        return None
    link = (
        reverse("admin:sources_sourcesync_change", args=[sync.pk])
        if sync
        else reverse("admin:sources_sourcesync_add") + "?" + urlencode({"source": source_id})
    )
    return format_html('{} <a href="{}">Sync settings</a>', POST_PROCESSING_WARNING, link)


RETENTION_FIELDS = ("retention_mode", "retention_days")


class SourceSyncAdminForm(forms.ModelForm):
    """Validates the sync settings; a retention changed is asked of documents.retention's own rule
    (storage must lock), and SourceSyncAdmin.save_model writes it through source_retention_set."""

    class Meta:
        model = SourceSync
        fields = ["source", *RETENTION_FIELDS]  # the admin's fieldsets add the others

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None and not set(RETENTION_FIELDS) & set(self.changed_data):
            return cleaned
        mode, days = cleaned.get("retention_mode") or "", cleaned.get("retention_days")
        if not mode and not days:
            return cleaned
        try:
            refusal = source_retention_refusal(mode=mode, days=days)
        except StorageUnavailable as error:
            refusal = f"Storage did not answer whether it can lock objects: {error}"
        if refusal:
            self.add_error("retention_mode", refusal)
        return cleaned


@admin.register(SourceSync)
class SourceSyncAdmin(SourceGuardsMixin, DeletionRecordedMixin, admin.ModelAdmin):
    """Per-source settings of what the sync asks Advance beyond the webhook, and reconciliation's state."""

    form = SourceSyncAdminForm
    view_level = Level.MANAGE

    list_display = [
        "source",
        "documents_scope",
        "post_processing_call",
        "reconcile_interval_minutes",
        "reconcile_watermark",
    ]
    list_select_related = ["source"]
    fieldsets = [
        (None, {"fields": ["source"]}),
        (
            "Post-assembly processing (PostProcessingEvent)",
            {
                "fields": [
                    "post_processing_warning",
                    "post_processing_status_path",
                    "post_processing_status_method",
                    "post_processing_status_body",
                ]
            },
        ),
        ("Documents of a version", {"fields": ["documents_scope"]}),
        ("Search", {"fields": ["search_config"]}),
        (
            "Retention (S3 Object Lock)",
            {"fields": ["retention_storage", "retention_mode", "retention_days", "retention_changed_at"]},
        ),
        (
            "Reconciliation",
            {
                "fields": [
                    "reconcile_interval_minutes",
                    "reconcile_query",
                    "reconcile_watermark",
                    "reconcile_next_at",
                    "reconcile_last_run_at",
                    "reconcile_last_error",
                ]
            },
        ),
    ]
    readonly_fields = [
        "post_processing_warning",
        "retention_storage",
        "retention_changed_at",
        "reconcile_next_at",
        "reconcile_last_run_at",
        "reconcile_last_error",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*self.readonly_fields, "source"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Deleting the settings would turn retention off behind source_retention_set's back.
        if obj is not None and obj.retention_mode:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: SourceSync, form: SourceSyncAdminForm, change: bool) -> None:
        mode, days = obj.retention_mode, obj.retention_days
        stored = SourceSync.objects.filter(pk=obj.pk).values(*RETENTION_FIELDS).first() if obj.pk else None
        # The other settings as posted; the retention only through its service, which owns the rule and the log line.
        obj.retention_mode, obj.retention_days = (
            (stored["retention_mode"], stored["retention_days"]) if stored else ("", None)
        )
        source_sync_save(sync=obj, actor=request.user)
        if (mode, days) != (obj.retention_mode, obj.retention_days):
            try:
                source_retention_set(source=obj.source, mode=mode, days=days, actor=request.user)
            except RetentionRefused as error:  # storage changed since the form was checked
                self.message_user(request, f"Retention not set: {error}", messages.ERROR)
            obj.refresh_from_db()

    @admin.display(description="storage")
    def retention_storage(self, sync: SourceSync | None) -> str:
        try:
            refusal = storage_lock_refusal()
        except StorageUnavailable as error:
            return f"Storage did not answer whether it can lock objects: {error}"
        if refusal:
            return format_html(
                '<p style="padding:6px 10px;background:var(--message-error-bg);max-width:60em">{} '
                "Retention cannot be set here.</p>",
                refusal,
            )
        return "The documents' bucket has Object Lock: retention can be set."

    @admin.display(description="post-processing status call", boolean=True)
    def post_processing_call(self, sync: SourceSync) -> bool:
        return not post_processing_call_missing(sync)

    @admin.display(description="")
    def post_processing_warning(self, sync: SourceSync | None) -> str:
        if not post_processing_call_missing(sync):
            return "-"
        return format_html(
            '<p style="padding:6px 10px;background:var(--message-error-bg);max-width:60em">{}</p>',
            POST_PROCESSING_WARNING,
        )


# Access by source ----------------------------------------------------------------------------


class SourceAccessForm(forms.ModelForm):
    """Validates a grant with the service's own check; SourceAccessAdmin writes it through the services."""

    class Meta:
        model = SourceAccess
        fields = ["source", "user", "group", "level"]

    def clean(self):
        cleaned = super().clean()
        if "level" in cleaned:
            user = cleaned.get("user", self.instance.user if self.instance.pk else None)
            group = cleaned.get("group", self.instance.group if self.instance.pk else None)
            try:
                source_access_check(user=user, group=group, level=cleaned["level"])
            except SourceAccessRefused as error:
                raise forms.ValidationError(str(error)) from None
        return cleaned


@admin.register(SourceAccess)
class SourceAccessAdmin(SourceGuardsMixin, admin.ModelAdmin):
    """Grants of access to a source, to a staff user or a group. Managed by holders of Django's
    permissions on grants (a grant never gives them): every change goes through the services."""

    view_level = Level.MANAGE
    form = SourceAccessForm
    list_display = ["source", "user", "group", "level", "updated_at"]
    list_filter = ["source", "level"]
    search_fields = ["source__slug", "user__username", "group__name"]
    list_select_related = ["source", "user", "group"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # Who and where are the grant itself: a change is of its level (another grant is added).
        return ["source", "user", "group"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: SourceAccess, form, change: bool) -> None:
        change_made = source_access_grant(
            source=obj.source, user=obj.user, group=obj.group, level=obj.level, actor=request.user
        )
        obj.pk = SourceAccess.objects.get(source=obj.source, user=obj.user, group=obj.group).pk
        source_access_forget(request.user)
        self.message_user(request, f"{change_made.subject}: {change_made.after} on {obj.source.slug}.")

    def delete_model(self, request: HttpRequest, obj: SourceAccess) -> None:
        source_access_revoke(source=obj.source, user=obj.user, group=obj.group, actor=request.user)
        source_access_forget(request.user)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for grant in queryset.select_related("source", "user", "group"):
            self.delete_model(request, grant)

"""Admin for webhook tokens and the delivery log, and what a source's page shows of intake (its
tokens, its webhook URLs), which sources/admin.py puts on that page.

Display, filters and search here; every change of state goes through webhooks.services.
"""

import json
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from audit.admin import DeletionRecordedMixin
from core.admin import (
    EstimatedCountMixin,
    ReadOnlyAdminMixin,
    compact_datetime,
    model_permission,
    preformatted,
    status_badge,
)
from sources.access import Level
from sources.admin_guards import SourceGuardsMixin
from sources.models import Source

from .admin_tools import (
    EXPIRING_SOON,
    delivery_schemes_view,
    replay_failed_redirect,
    replay_failed_since,
    replay_failed_view,
    token_expires_soon,
    tokens_rotate,
    webhook_registrations,
)
from .models import Delivery, WebhookToken
from .registry import event_type_names
from .selectors import source_refused_kept_count, source_token_counts
from .services import delivery_replay, token_issue, token_revoke, token_update
from .services.refusals import (
    SCHEME_SEARCH_MAX_BYTES,
    delivery_schemes_matching,
    delivery_schemes_searchable,
)
from .signatures import hmac_code_is_static, scheme_describe

BODY_SHOWN_BYTES = 256 * 1024
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def body_displayable(raw: bytes) -> str:
    """A stored body as text any page can show: JSON pretty-printed when it parses, else the text.

    The log keeps whatever a sender posted, so nothing here may fail on it: nesting deeper than
    Python recurses, lone surrogates (which cannot be sent as UTF-8), NUL and other control
    characters (shown escaped), invalid UTF-8; a large body is cut to its first BODY_SHOWN_BYTES.
    """
    text = None
    if len(raw) <= BODY_SHOWN_BYTES:
        try:
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to walk
            text = None
    if text is None:
        text = raw[:BODY_SHOWN_BYTES].decode("utf-8", errors="replace")
    text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    text = UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    if len(raw) > BODY_SHOWN_BYTES:
        text += f"\n... (the first {BODY_SHOWN_BYTES} of {len(raw)} bytes shown)"
    return text


def webhook_url(request: HttpRequest, source: Source | None = None) -> str:
    """The absolute URL to enter as the webhook's URL in Advance: the source's own URL for HMAC,
    where no token names the source."""
    if source is not None and source.auth_method == Source.AuthMethod.HMAC:
        return request.build_absolute_uri(reverse("webhooks:advance-source", args=[source.slug]))
    return request.build_absolute_uri(reverse("webhooks:advance"))


# What a source's page shows of intake (sources/admin.py puts it there) ----------------------


class WebhookTokenInline(admin.TabularInline):
    model = WebhookToken
    fields = ["name", "key_prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "webhook tokens (issue new ones from the token list)"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="key prefix")
    def key_prefix(self, token: WebhookToken) -> str:
        return f"{token.lookup}…"


def source_webhook_context(request: HttpRequest, source: Source) -> dict[str, object]:
    """What a source's page shows of intake, beside its form (templates/admin/sources/source/): the URL
    to enter in Advance, one webhook registration per event type, the refused calls kept for a second
    check, and the source's tokens."""
    token_count, usable = source_token_counts(source=source)
    return {
        "webhook_url": webhook_url(request, source),
        "hmac": source.auth_method == Source.AuthMethod.HMAC,
        "hmac_static": hmac_code_is_static(source.hmac_signed_material),
        "registrations": webhook_registrations(request, source),
        "refused_kept": source_refused_kept_count(source=source),
        "token_count": token_count,
        "usable_token_count": usable,
        "tokens_url": reverse("admin:webhooks_webhooktoken_changelist")
        + "?"
        + urlencode({"source__id__exact": source.pk}),
        "token_add_url": reverse("admin:webhooks_webhooktoken_add") + "?" + urlencode({"source": source.pk}),
    }


# Tokens ------------------------------------------------------------------------------------


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("active", "Active"),
            ("expiring", f"Expiring within {EXPIRING_SOON.days} days"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
        if self.value() == "expiring":
            return queryset.filter(expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON, revoked_at__isnull=True)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now, revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class WebhookTokenAdminForm(forms.ModelForm):
    class Meta:
        model = WebhookToken
        fields = ["name", "source", "expires_at"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and "expires_at" in self.changed_data and expires_at <= timezone.now():
            raise forms.ValidationError("Choose a time in the future (or revoke the token).")
        return expires_at


class WebhookTokenAddForm(WebhookTokenAdminForm):
    """The add page's form: saving it issues the token through token_issue, which writes the row.

    The key rides on the issued token as `issued_key` for the page that shows it once; it is
    never stored. The admin sets `actor`, the user who issues it, for the audit log."""

    actor = None

    def save(self, commit: bool = True) -> WebhookToken:
        token, key = token_issue(
            source=self.cleaned_data["source"],
            name=self.cleaned_data["name"],
            expires_at=self.cleaned_data.get("expires_at"),
            actor=self.actor,
        )
        token.issued_key = key
        self.instance = token
        self.save_m2m = self._save_m2m  # what ModelForm.save(commit=False) leaves for the admin
        return token


@admin.register(WebhookToken)
class WebhookTokenAdmin(SourceGuardsMixin, DeletionRecordedMixin, admin.ModelAdmin):
    view_level = Level.MANAGE
    form = WebhookTokenAdminForm
    list_display = ["name", "key_prefix", "source", "created", "expires", "last_used", "status"]
    list_filter = ["source", TokenStatusFilter]
    search_fields = ["name", "lookup", "source__slug"]
    list_select_related = ["source"]
    actions = ["revoke_tokens", tokens_rotate]
    key_once_template = "admin/webhooks/webhooktoken/key_once.html"
    # The digest is in none of these: it is never shown.
    change_fields = ["name", "source", "key_prefix", "status", "created_at", "expires_at", "last_used_at", "revoked_at"]
    change_readonly_fields = ["source", "key_prefix", "status", "created_at", "last_used_at", "revoked_at"]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "source", "expires_at"]})]
        return [(None, {"fields": self.change_fields})]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.change_readonly_fields if obj is not None else []

    @admin.display(description="key prefix", ordering="lookup")
    def key_prefix(self, token: WebhookToken) -> str:
        return f"{token.lookup}…"

    @admin.display(description="created", ordering="created_at")
    def created(self, token: WebhookToken) -> str:
        return compact_datetime(token.created_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, token: WebhookToken) -> str:
        return compact_datetime(token.expires_at) if token.expires_at else "never"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, token: WebhookToken) -> str:
        return compact_datetime(token.last_used_at) if token.last_used_at else "never"

    @admin.display(description="status")
    def status(self, token: WebhookToken) -> str:
        if token.revoked_at is not None:
            return status_badge("revoked", "error")
        if not token.is_usable():
            return status_badge("expired", "warning")
        if token_expires_soon(token):
            days = (token.expires_at - timezone.now()).days
            when = "today" if days < 1 else f"in {days} day{'s' if days > 1 else ''}"
            return status_badge(f"expires {when}", "warning")
        return status_badge("active", "success")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        # The key is shown on the page after saving; "save and add another" would skip it.
        extra_context = {**(extra_context or {}), "show_save_and_add_another": False, "show_save_and_continue": False}
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = WebhookTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_form(self, request: HttpRequest, form, change: bool):
        form.actor = request.user
        return super().save_form(request, form, change)

    def save_model(self, request: HttpRequest, obj: WebhookToken, form, change: bool) -> None:
        if not change:
            return  # WebhookTokenAddForm.save issued it
        token_update(token=obj, fields=form.changed_data, actor=request.user)

    def response_add(self, request: HttpRequest, obj: WebhookToken, post_url_continue=None) -> HttpResponse:
        key = getattr(obj, "issued_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        # The key goes into this response only: not a redirect, not a message (a cookie).
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Webhook token issued",
            "token": obj,
            "key": key,
            "webhook_url": webhook_url(request),
            "changelist_url": reverse("admin:webhooks_webhooktoken_changelist"),
            "change_url": reverse("admin:webhooks_webhooktoken_change", args=[obj.pk]),
            "source_url": reverse("admin:sources_source_change", args=[obj.source_id]),
        }
        response = TemplateResponse(request, self.key_once_template, context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset) -> None:
        revoked = sum(token_revoke(token=token, actor=request.user) for token in queryset)
        already = queryset.count() - revoked
        message = f"Revoked {revoked} token{'s' if revoked != 1 else ''}."
        if already:
            message += f" {already} {'was' if already == 1 else 'were'} revoked already."
        self.message_user(request, message, messages.SUCCESS if revoked else messages.WARNING)


# The delivery log --------------------------------------------------------------------------


DELIVERY_TONES = {
    Delivery.Status.ACCEPTED: "info",
    Delivery.Status.PROCESSED: "success",
    Delivery.Status.FAILED: "error",
    Delivery.Status.DUPLICATE: "quiet",
    Delivery.Status.REJECTED: "warning",
}


class EventTypeFilter(admin.SimpleListFilter):
    """The registered event types: Django's filter of a plain column reads its distinct values,
    a scan of every delivery on each page load."""

    title = "event type"
    parameter_name = "event_type"  # as Django's filter of the column named it: links keep working

    def lookups(self, request, model_admin):
        return [(name, name) for name in event_type_names()]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


class DeliveryChangeList(ChangeList):
    def get_ordering_field(self, field_name):
        # Only the columns offered for sorting sort, whatever the query string's "o" says.
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_queryset(self, request, exclude_parameters=None):
        # The list shows none of these; a page of 1 MiB bodies would be loaded for nothing.
        return super().get_queryset(request, exclude_parameters).defer("raw_body", "headers", "last_error")


@admin.register(Delivery)
class DeliveryAdmin(SourceGuardsMixin, EstimatedCountMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Replays are the manage level's; a delivery of no source (refused before one was known) is
    # seen only by whoever sees every source (SourceScope.filter).
    view_level = Level.MANAGE
    list_display = [
        "received",
        "source",
        "event_type",
        "event_id",
        "status_badge",
        "http_status",
        "rejection_cause",
        "attempts",
    ]
    list_filter = ["source", EventTypeFilter, "status", "received_at"]
    # By time only: sorting millions of calls by another column sorts every row (its filters find
    # the same rows at once); an index for each would slow the intake's INSERT.
    sortable_by = ["received"]
    date_hierarchy = "received_at"
    search_fields = ["event_id", "public_id"]
    list_select_related = ["source"]
    actions = ["replay_deliveries", replay_failed_since]
    change_list_template = "admin/webhooks/delivery/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "public_id",
                    "source",
                    "token",
                    "event_type",
                    "event_id",
                    "status_badge",
                    "http_status",
                    "rejection_cause",
                    "duplicate_of",
                    "received_at",
                    "processed_at",
                    "attempts",
                    "remote_addr",
                ]
            },
        ),
        ("Last error", {"fields": ["last_error_text"]}),
        ("Refused by the source's HMAC settings", {"fields": ["schemes_matching", "accepted_as"]}),
        ("Request", {"fields": ["query_string", "headers_text", "body_text"]}),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_changelist(self, request: HttpRequest, **kwargs):
        return DeliveryChangeList

    def get_fieldsets(self, request: HttpRequest, obj=None):
        # The schemes are shown only for a refused call that is kept, or was accepted on a second check;
        # with buttons to adopt one only to whoever may change sources (delivery_schemes_view's rule).
        if obj is None or not (obj.credentials_encrypted or obj.accepted_as_id):
            return [fieldset for fieldset in self.fieldsets if "schemes_matching" not in fieldset[1]["fields"]]
        if request.user.has_perm("sources.change_source"):
            return self.fieldsets
        return [
            (
                name,
                {**options, "fields": ["schemes_listed" if f == "schemes_matching" else f for f in options["fields"]]},
            )
            for name, options in self.fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*self.readonly_fields, "schemes_listed"]

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return model_permission(request, self.opts, "change")

    def get_urls(self):
        replay_failed = path(
            "replay-failed/",
            self.admin_site.admin_view(self.replay_failed_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_replay_failed",
        )
        adopt = path(
            "<path:object_id>/adopt-scheme/",
            self.admin_site.admin_view(self.delivery_schemes_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_adopt_scheme",
        )
        return [replay_failed, adopt, *super().get_urls()]

    def delivery_schemes_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return delivery_schemes_view(self, request, object_id)

    @admin.display(description="schemes that would have accepted it")
    def schemes_listed(self, delivery: Delivery) -> str:
        return self.schemes_matching(delivery, adoptable=False)

    @admin.display(description="schemes that would have accepted it")
    def schemes_matching(self, delivery: Delivery, adoptable: bool = True) -> str:
        if not delivery.credentials_encrypted:
            return "-" if delivery.accepted_as_id is None else "Accepted on a second check."
        if not delivery_schemes_searchable(delivery=delivery):
            return f"Not searched: the call's body is over {SCHEME_SEARCH_MAX_BYTES // 1024} KiB."
        schemes = delivery_schemes_matching(delivery=delivery)
        if not schemes:
            return "None of the supported schemes matches this call with the source's secrets."
        if not adoptable:
            listed = format_html_join("", "<li>{}</li>", ((scheme_describe(scheme),) for scheme in schemes))
            note = "Adopting one needs the permission to change sources."
            return format_html('<ul style="margin:0;padding-left:1em">{}</ul><p class="help">{}</p>', listed, note)
        url = reverse("admin:webhooks_delivery_adopt_scheme", args=[delivery.pk])
        # Buttons of the page's own form (it carries the CSRF token), posted to the adopt view.
        buttons = format_html_join(
            "",
            '<li style="margin-bottom:4px">{} <button type="submit" class="button" formaction="{}" '
            'name="scheme" value="{}">Adopt this scheme</button></li>',
            ((scheme_describe(scheme), url, number) for number, scheme in enumerate(schemes)),
        )
        note = "Adopting one sets the source's HMAC settings and checks its kept refused calls again."
        return format_html('<ul style="margin:0;padding-left:1em">{}</ul><p class="help">{}</p>', buttons, note)

    def replay_failed_view(self, request: HttpRequest) -> HttpResponse:
        return replay_failed_view(self, request)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        return replay_failed_redirect(request) or super().changelist_view(request, extra_context)

    @admin.display(description="received", ordering="received_at")
    def received(self, delivery: Delivery) -> str:
        return compact_datetime(delivery.received_at)

    @admin.display(description="status", ordering="status")
    def status_badge(self, delivery: Delivery) -> str:
        return status_badge(delivery.get_status_display(), DELIVERY_TONES.get(delivery.status, "quiet"))

    @admin.display(description="last error")
    def last_error_text(self, delivery: Delivery) -> str:
        return preformatted(delivery.last_error) if delivery.last_error else "-"

    @admin.display(description="headers")
    def headers_text(self, delivery: Delivery) -> str:
        return preformatted(json.dumps(delivery.headers, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.display(description="body")
    def body_text(self, delivery: Delivery) -> str:
        raw = bytes(delivery.raw_body or b"")
        return preformatted(body_displayable(raw)) if raw else "-"

    @admin.action(description="Replay selected events", permissions=["replay"])
    def replay_deliveries(self, request: HttpRequest, queryset) -> None:
        queued = skipped = 0
        for delivery in queryset:
            if delivery_replay(delivery=delivery):
                queued += 1
            else:
                skipped += 1
        message = f"Queued {queued} event{'s' if queued != 1 else ''} again."
        if skipped:
            message += f" Skipped {skipped} (only processed or failed events are replayed)."
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)

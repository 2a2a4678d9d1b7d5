"""Admin operations that take an intermediate page: rotating tokens and replaying failed events
since a chosen time. Used by webhooks/admin.py; every change goes through webhooks.services."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Min
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

from sources.models import Source

from .models import Delivery, WebhookToken
from .selectors import deliveries_failed_since
from .services import delivery_replay, token_rotate

# Tokens expiring within this are flagged in the list.
EXPIRING_SOON = timedelta(days=14)


def token_expires_soon(token: WebhookToken, now=None) -> bool:
    now = now or timezone.now()
    return token.is_usable(now) and token.expires_at is not None and token.expires_at - now <= EXPIRING_SOON


# Rotating tokens ---------------------------------------------------------------------------

GRACE_CHOICES = [
    (0, "No grace: the old key stops working now"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "7 days"),
    (30 * 86400, "30 days"),
]


class TokenRotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label="Keep the old key working for",
        choices=GRACE_CHOICES,
        coerce=int,
        initial=86400,
        widget=forms.RadioSelect,
        help_text="Time to paste the new key into Advance. The old key expires then (or sooner, if it already would).",
    )


@admin.action(description="Rotate selected tokens…", permissions=["change"])
def tokens_rotate(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> HttpResponse | None:
    tokens = list(queryset.select_related("source").order_by("source__slug", "name", "pk"))
    usable = [token for token in tokens if token.revoked_at is None]
    revoked = [token for token in tokens if token.revoked_at is not None]
    if not usable:
        message = "Revoked tokens cannot be rotated; issue a new token instead."
        modeladmin.message_user(request, message, messages.WARNING)
        return None
    form = TokenRotateForm(request.POST if request.POST.get("confirm") == "yes" else None)
    if form.is_bound and form.is_valid():
        grace = timedelta(seconds=form.cleaned_data["grace"])
        issued = []
        for token in usable:
            new_token, key = token_rotate(token=token, grace=grace, actor=request.user)
            token.refresh_from_db(fields=["expires_at"])
            issued.append({"old": token, "new": new_token, "key": key})
        # The keys go into this response only: not a redirect, not a message (a cookie).
        context = {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.opts,
            "title": f"Webhook token{'s' if len(issued) != 1 else ''} rotated",
            "issued": issued,
            "skipped": revoked,
            "grace_label": dict(GRACE_CHOICES)[form.cleaned_data["grace"]],
            "webhook_url": request.build_absolute_uri(reverse("webhooks:advance")),
            "changelist_url": reverse("admin:webhooks_webhooktoken_changelist"),
        }
        response = TemplateResponse(request, "admin/webhooks/webhooktoken/rotated.html", context)
        add_never_cache_headers(response)
        return response
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "title": "Rotate webhook tokens",
        "tokens": usable,
        "revoked": revoked,
        "form": form,
        "action": "tokens_rotate",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "changelist_url": reverse("admin:webhooks_webhooktoken_changelist"),
    }
    return TemplateResponse(request, "admin/webhooks/webhooktoken/rotate_confirm.html", context)


# Replaying failed events since a time --------------------------------------------------------

DATETIME_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
PREVIEW_ROWS = 25
REPLAY_ACTION = "replay_failed_since"


class ReplayFailedSinceForm(forms.Form):
    since = forms.DateTimeField(
        label="Failed events received since",
        input_formats=DATETIME_INPUT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"Time zone: {settings.TIME_ZONE}.",
    )
    source = forms.ModelChoiceField(queryset=Source.objects.order_by("slug"), required=False, empty_label="All sources")

    def clean_since(self):
        since = self.cleaned_data["since"]
        if since > timezone.now():
            raise forms.ValidationError("Choose a time in the past.")
        return since


def replay_failed_url(since=None) -> str:
    url = reverse("admin:webhooks_delivery_replay_failed")
    if since is not None:
        url += "?" + urlencode({"since": timezone.localtime(since).strftime("%Y-%m-%dT%H:%M")})
    return url


@admin.action(description="Replay failed events since…", permissions=["replay"])
def replay_failed_since(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> HttpResponse:
    """Opens the page that asks for the time; the selection, if any, proposes its earliest event's."""
    earliest = queryset.aggregate(earliest=Min("received_at"))["earliest"]
    return HttpResponseRedirect(replay_failed_url(earliest))


def replay_failed_redirect(request: HttpRequest) -> HttpResponse | None:
    """The action needs no selection: sent without one, go straight to its page."""
    if (
        request.method == "POST"
        and request.POST.get("action") == REPLAY_ACTION
        and not request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    ):
        return HttpResponseRedirect(replay_failed_url())
    return None


def replay_failed_view(modeladmin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Ask for a time, show the failed events since then, and replay them all on confirmation."""
    if not modeladmin.has_replay_permission(request):
        raise PermissionDenied
    # The events of the sources the user manages: the form offers those, and lists and counts no other.
    scope = modeladmin.manage_scope(request)
    if request.method == "POST":
        form = ReplayFailedSinceForm(request.POST)
    else:
        since = request.GET.get("since") or timezone.localtime(timezone.now() - timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        form = ReplayFailedSinceForm({"since": since, "source": request.GET.get("source", "")})
    form.fields["source"].queryset = scope.filter(form.fields["source"].queryset, "pk")
    failed = preview = None
    if form.is_valid():
        failed = deliveries_failed_since(since=form.cleaned_data["since"], source=form.cleaned_data["source"])
        failed = scope.filter(failed)
        if request.method == "POST" and "_replay" in request.POST:
            queued = sum(delivery_replay(delivery=delivery) for delivery in failed.select_related("source"))
            since_text = timezone.localtime(form.cleaned_data["since"]).strftime("%Y-%m-%d %H:%M")
            modeladmin.message_user(
                request,
                f"Queued {queued} failed event{'s' if queued != 1 else ''} received since {since_text} again.",
                messages.SUCCESS if queued else messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:webhooks_delivery_changelist"))
        preview = list(failed.select_related("source").defer("raw_body", "headers")[:PREVIEW_ROWS])
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "title": "Replay failed events since…",
        "form": form,
        "count": failed.count() if failed is not None else None,
        "preview": preview or [],
        "preview_rows": PREVIEW_ROWS,
        "all_failed": scope.filter(Delivery.objects.filter(status=Delivery.Status.FAILED)).count(),
        "changelist_url": reverse("admin:webhooks_delivery_changelist"),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/webhooks/delivery/replay_failed.html", context)


# What to enter in Advance, one webhook registration per event type ------------------------

# (event type, request verb, note). Advance's form: Name, URL, Event type, Interview Event Name
# (CustomInterviewEvent), Authentication Method (HMAC, the default, or Access token), Request verb.
REGISTRATIONS = [
    ("NewWorkItemVersionComplete", "POST", "Its documents are stored."),
    ("PostProcessingEvent", "POST", "Documents listed in it are stored."),
    ("InterviewLoadEvent", "GET (or POST)", "Answered with the stored answer for the interview load."),
    (
        "CustomInterviewEvent",
        "GET or POST (Advance's Request verb)",
        "One registration per Interview Event Name: replace <eventName> in the URL with it.",
    ),
]


def webhook_registrations(request: HttpRequest, source: Source) -> list[dict]:
    """For each event type: the URL, verb and authentication to enter in Advance's webhook form."""
    if source.auth_method == Source.AuthMethod.HMAC:
        authentication = "HMAC (Advance's default)"
    else:
        authentication = "Access token: a webhook token of this source"
    rows = []
    for number, (event_type, verb, note) in enumerate(REGISTRATIONS):
        if event_type == "CustomInterviewEvent":
            url = reverse("webhooks:advance-source-interview-event", args=[source.slug, "EVENTNAME"])
            # The placeholder as the operator must read it, not percent-encoded.
            url = request.build_absolute_uri(url).replace("EVENTNAME", "<eventName>")
        else:
            url = request.build_absolute_uri(reverse("webhooks:advance-source-event", args=[source.slug, event_type]))
        rows.append(
            {
                "id": f"registration-url-{number}",
                "event_type": event_type,
                "url": url,
                "verb": verb,
                "authentication": authentication,
                "note": note,
            }
        )
    return rows


# Refused HMAC calls: the schemes that would have matched, and adopting one -----------------


def delivery_schemes_view(modeladmin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """POST from a refused delivery's page: adopt the scheme chosen there for its source, then check
    the source's kept refused calls again. The permission is checked before the delivery is looked
    up, so that who may not adopt learns nothing of which ids exist."""
    from .services.refusals import delivery_schemes_matching, source_hmac_scheme_adopt
    from .signatures import scheme_describe

    if not (modeladmin.has_view_permission(request) and request.user.has_perm("sources.change_source")):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    delivery = modeladmin.get_object(request, object_id)  # None for an id that is not one, too
    if delivery is None or delivery.source is None:
        raise Http404("No such delivery.")
    schemes = delivery_schemes_matching(delivery=delivery)
    try:
        scheme = schemes[int(request.POST.get("scheme", ""))]
    except (ValueError, IndexError):
        modeladmin.message_user(request, "That scheme no longer matches this call; nothing changed.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))
    accepted, refused = source_hmac_scheme_adopt(source=delivery.source, scheme=scheme, actor=request.user)
    modeladmin.message_user(
        request,
        f"Source {delivery.source.slug!r} now verifies {scheme_describe(scheme)}. Refused calls checked again: "
        f"{accepted} accepted, {refused} still refused.",
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))

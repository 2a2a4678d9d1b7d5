from django import forms
from django.conf import settings
from django.contrib import admin

from sources.access import Level
from sources.admin_guards import SourceGuardsMixin

from .models import AnswerProvider


class AnswerProviderForm(forms.ModelForm):
    class Meta:
        model = AnswerProvider
        fields = [
            "source",
            "event_type",
            "event_name",
            "kind",
            "answer_json",
            "provider_path",
            "timeout_seconds",
            "fallback_json",
            "is_active",
        ]
        widgets = {
            "answer_json": forms.Textarea(attrs={"rows": 16, "cols": 100, "style": "font-family: monospace"}),
            "fallback_json": forms.Textarea(attrs={"rows": 4, "cols": 100, "style": "font-family: monospace"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "provider_path" not in self.fields:
            return  # the page of a user who may only view providers
        # Only the providers that settings list can be chosen: the admin never names arbitrary code.
        self.fields["provider_path"].widget = forms.Select(
            choices=[("", "---------")] + [(path, path) for path in settings.INTERVIEW_ANSWER_PROVIDERS]
        )


@admin.register(AnswerProvider)
class AnswerProviderAdmin(SourceGuardsMixin, admin.ModelAdmin):
    view_level = Level.MANAGE  # a source's answers are its settings
    form = AnswerProviderForm
    list_display = ["__str__", "source", "kind", "provider_path", "timeout_seconds", "is_active", "updated_at"]
    list_filter = ["source", "event_type", "kind", "is_active"]
    search_fields = ["event_name", "source__slug", "provider_path"]
    list_select_related = ["source"]
    fieldsets = [
        (None, {"fields": ["source", "event_type", "event_name", "is_active"]}),
        ("Answer", {"fields": ["kind", "answer_json", "provider_path", "timeout_seconds", "fallback_json"]}),
    ]

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from sources.models import Source


def json_validate(text: str) -> None:
    """Refuse text that is not a JSON document, saying where it breaks."""
    try:
        json.loads(text)
    except ValueError as error:
        raise ValidationError(f"Not valid JSON: {error}") from None


class AnswerProvider(models.Model):
    """How a source's interview event is answered: a stored answer document or a Python provider."""

    class EventType(models.TextChoices):
        LOAD = "InterviewLoadEvent", "InterviewLoadEvent (interview opened)"
        CUSTOM = "CustomInterviewEvent", "CustomInterviewEvent (interview event element)"

    class Kind(models.TextChoices):
        STORED = "stored", "Stored answer"
        PYTHON = "python", "Python provider"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="answer_providers")
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    event_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The Event Name of the interview event element (CustomInterviewEvent); empty for InterviewLoadEvent.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STORED)
    answer_json = models.TextField(
        "stored answer", blank=True, help_text="HotDocs answer JSON, returned byte for byte."
    )
    provider_path = models.CharField(
        "Python provider",
        max_length=300,
        blank=True,
        help_text="A dotted path listed in the setting INTERVIEW_ANSWER_PROVIDERS.",
    )
    timeout_seconds = models.FloatField(
        "time budget (s)",
        default=5,
        validators=[MinValueValidator(0.05), MaxValueValidator(30)],
        help_text="A provider still working after this long is answered for with the fallback.",
    )
    fallback_json = models.TextField(
        "fallback answer",
        blank=True,
        help_text="Returned when the provider fails or runs out of time; empty: an empty answer set.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "event_type", "event_name"]
        constraints = [
            models.UniqueConstraint(
                "source", "event_type", Lower("event_name"), name="one_answer_provider_per_source_and_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_name}".strip()

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.event_type == self.EventType.CUSTOM and not self.event_name.strip():
            errors["event_name"] = "A CustomInterviewEvent is answered by its event name: give one."
        if self.event_type == self.EventType.LOAD and self.event_name:
            errors["event_name"] = "InterviewLoadEvent has no event name: leave it empty."
        if self.kind == self.Kind.STORED:
            if not self.answer_json.strip():
                errors["answer_json"] = "A stored answer needs its JSON."
            else:
                try:
                    json_validate(self.answer_json)
                except ValidationError as error:
                    errors["answer_json"] = error.messages[0]
        if self.kind == self.Kind.PYTHON and self.provider_path not in settings.INTERVIEW_ANSWER_PROVIDERS:
            listed = ", ".join(settings.INTERVIEW_ANSWER_PROVIDERS) or "none"
            errors["provider_path"] = f"Choose a provider listed in INTERVIEW_ANSWER_PROVIDERS (listed: {listed})."
        if self.fallback_json.strip():
            try:
                json_validate(self.fallback_json)
            except ValidationError as error:
                errors["fallback_json"] = error.messages[0]
        if errors:
            raise ValidationError(errors)

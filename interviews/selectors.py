from sources.models import Source

from .models import AnswerProvider


def answer_provider_get(*, source: Source, event_type: str, event_name: str) -> AnswerProvider | None:
    """The active provider for this event of this source; event names match without regard to case."""
    name = event_name if event_type == AnswerProvider.EventType.CUSTOM else ""
    return AnswerProvider.objects.filter(
        source=source, event_type=event_type, event_name__iexact=name, is_active=True
    ).first()

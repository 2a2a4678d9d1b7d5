from django.apps import AppConfig


class InterviewsConfig(AppConfig):
    name = "interviews"
    verbose_name = "Interview answers"

    def ready(self) -> None:
        from functools import partial

        from webhooks.registry import EventType, event_type_register

        from .models import AnswerProvider
        from .services import interview_answer

        for event_type in AnswerProvider.EventType.values:
            event_type_register(EventType(name=event_type, answer=partial(interview_answer, event_type=event_type)))

"""What a Python answer provider receives, and how providers are found.

A provider is a function `provider(request: InterviewRequest) -> answer`, where the answer is a
dict or list (sent as JSON) or a str/bytes holding JSON. Only the dotted paths listed in the
setting INTERVIEW_ANSWER_PROVIDERS can be chosen, so the admin cannot name arbitrary code.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from sources.models import Source


@dataclass(frozen=True)
class InterviewRequest:
    source: Source
    event_type: str
    event_name: str
    work_item_id: str
    user_id: str
    answers: Any  # the answers Advance sent, when it sent any
    payload: dict  # the request's JSON object or form fields, keys case-folded
    raw_body: bytes


def interview_request_build(
    *, source: Source, event_type: str, event_name: str, payload: dict, raw_body: bytes
) -> InterviewRequest:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    created_by = payload.get("createdby") or data.get("createdby") or {}

    def first(*values: Any) -> str:
        return next((str(value) for value in values if isinstance(value, str | int) and str(value)), "")

    return InterviewRequest(
        source=source,
        event_type=event_type,
        event_name=event_name,
        work_item_id=first(data.get("workitemid"), payload.get("workitemid")),
        user_id=first(
            created_by.get("id") if isinstance(created_by, dict) else None, payload.get("userid"), data.get("userid")
        ),
        answers=data.get("answers", payload.get("answers")),
        payload=payload,
        raw_body=raw_body,
    )


def provider_load(path: str):
    if path not in settings.INTERVIEW_ANSWER_PROVIDERS:
        raise LookupError(f"{path!r} is not listed in INTERVIEW_ANSWER_PROVIDERS")
    return import_string(path)

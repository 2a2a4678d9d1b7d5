"""An example answer provider, listed in INTERVIEW_ANSWER_PROVIDERS by default.

An organisation writes its own the same way (a lookup in its CRM, say) and lists its dotted path.
"""

from .providers import InterviewRequest


def request_summary(request: InterviewRequest) -> dict:
    """Answer with what the request identified: the work item, the user and the event."""
    return {
        "WorkItemId": request.work_item_id,
        "UserId": request.user_id,
        "EventName": request.event_name or request.event_type,
    }

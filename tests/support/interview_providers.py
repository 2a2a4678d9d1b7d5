"""Answer providers for the tests, listed in INTERVIEW_ANSWER_PROVIDERS by the tests that use them."""

import time

from interviews.providers import InterviewRequest

CALLS: list[InterviewRequest] = []


def recording(request: InterviewRequest) -> dict:
    CALLS.append(request)
    return {"Client Name": {"text": f"client of {request.work_item_id}"}, "EventName": request.event_name}


def slow(request: InterviewRequest) -> dict:
    time.sleep(2)
    return {"late": True}


def crashing(request: InterviewRequest) -> dict:
    raise RuntimeError("the CRM is down")


def not_json(request: InterviewRequest) -> str:
    return "this is not JSON"

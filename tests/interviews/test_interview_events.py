"""InterviewLoadEvent and CustomInterviewEvent answered on the webhook URL; PostProcessingEvent."""

import json
import time
from io import StringIO

import pytest
import requests
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from advance_sim import SimDocument, document_bytes, send_interview_call
from documents.models import Document
from interviews.models import AnswerProvider
from interviews.services import answer_stored_set
from tests.support import interview_providers as providers
from tests.support.waiting import wait_for
from webhooks.models import Delivery

URL = "/webhooks/advance/"
# Deliberately odd spacing and key order: the answer must come back exactly as stored.
STORED = '{"Client Name": {"text": "Ada Lovelace"},\n  "Matter number": {"num": 42}, "a":[1,2 ,3]}'
TEST_PROVIDERS = [f"tests.support.interview_providers.{name}" for name in ("recording", "slow", "crashing", "not_json")]


@pytest.fixture(autouse=True)
def _test_providers(settings):
    settings.INTERVIEW_ANSWER_PROVIDERS = TEST_PROVIDERS
    providers.CALLS.clear()


def provider(source, *, event_type="CustomInterviewEvent", event_name="GetClient", **fields) -> AnswerProvider:
    answer = AnswerProvider(source=source, event_type=event_type, event_name=event_name, **fields)
    answer.full_clean()
    answer.save()
    return answer


def call(client: Client, key: str, *, method="post", body=None, query=None, content_type="application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if method == "get":
        return client.get(URL, data=query or {}, **headers)
    path = URL + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    data = json.dumps(body) if content_type == "application/json" else body
    return client.post(path, data=data, content_type=content_type, **headers)


@pytest.mark.django_db
class TestAnswers:
    def test_stored_answer_is_returned_byte_for_byte_for_post_and_get(self, client, source, token_key):
        provider(source, kind="stored", answer_json=STORED)

        posted = call(client, token_key, body={"eventType": "CustomInterviewEvent", "eventName": "GetClient"})
        got = call(
            client, token_key, method="get", query={"eventType": "CustomInterviewEvent", "eventName": "GetClient"}
        )

        for response in (posted, got):
            assert response.status_code == 200
            assert response["Content-Type"] == "application/json"
            assert response.content == STORED.encode()
        logged = Delivery.objects.filter(status=Delivery.Status.ANSWERED).order_by("pk")
        assert [d.method for d in logged] == ["POST", "GET"]
        assert all(d.answer_size == len(STORED.encode()) and d.answered_by.startswith("stored answer") for d in logged)
        assert "eventName=GetClient" in logged[1].query_string

    def test_interview_load_event_needs_no_event_name(self, client, source, token_key):
        provider(source, event_type="InterviewLoadEvent", event_name="", kind="stored", answer_json="[]")

        response = call(client, token_key, body={"eventType": "InterviewLoadEvent", "eventId": "x"})

        assert response.status_code == 200
        assert response.content == b"[]"

    def test_provider_is_called_with_the_parsed_request(self, client, source, token_key):
        provider(source, kind="python", provider_path="tests.support.interview_providers.recording")
        body = {
            "eventType": "CustomInterviewEvent",
            "eventName": "GetClient",
            "data": {"workItemId": "wi-7", "answers": {"Matter": "M-1"}},
            "createdBy": {"id": "user-9", "loginName": "jo@example.com"},
        }

        response = call(client, token_key, body=body)

        assert response.status_code == 200
        assert response.json() == {"Client Name": {"text": "client of wi-7"}, "EventName": "GetClient"}
        [request] = providers.CALLS
        assert request.source == source
        assert (request.event_type, request.event_name) == ("CustomInterviewEvent", "GetClient")
        assert (request.work_item_id, request.user_id) == ("wi-7", "user-9")
        assert request.answers == {"Matter": "M-1"}
        assert json.loads(request.raw_body) == body
        assert Delivery.objects.get().answered_by == "tests.support.interview_providers.recording"

    def test_slow_provider_is_cut_at_its_budget_with_the_fallback(self, client, source, token_key):
        provider(
            source,
            kind="python",
            provider_path="tests.support.interview_providers.slow",
            timeout_seconds=0.3,
            fallback_json='{"fallback": true}',
        )

        started = time.monotonic()
        response = call(client, token_key, body={"eventType": "CustomInterviewEvent", "eventName": "GetClient"})
        elapsed = time.monotonic() - started

        assert response.status_code == 200
        assert response.json() == {"fallback": True}
        assert elapsed < 1.5
        delivery = Delivery.objects.get()
        assert delivery.status == Delivery.Status.FALLBACK
        assert "time budget" in delivery.last_error
        assert 250 <= delivery.duration_ms < 1500

    @pytest.mark.parametrize(("path", "reason"), [("crashing", "the CRM is down"), ("not_json", "JSONDecodeError")])
    def test_failing_provider_is_answered_with_the_default_fallback_and_recorded(
        self, client, source, token_key, path, reason
    ):
        provider(source, kind="python", provider_path=f"tests.support.interview_providers.{path}")

        response = call(client, token_key, body={"eventType": "CustomInterviewEvent", "eventName": "GetClient"})

        assert response.status_code == 200
        assert response.content == b"{}"  # an empty answer set
        delivery = Delivery.objects.get()
        assert delivery.status == Delivery.Status.FALLBACK
        assert reason in delivery.last_error

    def test_keys_and_event_names_match_without_regard_to_case(self, client, source, token_key):
        provider(source, event_name="GetClient", kind="stored", answer_json=STORED)

        in_body = call(client, token_key, body={"EVENTTYPE": "custominterviewevent", "InterviewEventName": "getclient"})
        under_data = call(
            client, token_key, body={"Data": {"EventType": "CustomInterviewEvent", "EVENTNAME": "GETCLIENT"}}
        )
        in_query = call(
            client, token_key, method="get", query={"EventType": "CustomInterviewEvent", "eventname": "GetClient"}
        )
        in_form = call(
            client,
            token_key,
            body="EventType=CustomInterviewEvent&EventName=getClient&token=hmac-code",
            content_type="application/x-www-form-urlencoded",
        )

        assert [r.status_code for r in (in_body, under_data, in_query, in_form)] == [200, 200, 200, 200]
        assert {r.content for r in (in_body, under_data, in_query, in_form)} == {STORED.encode()}

    def test_unknown_event_name_is_a_404_json_error_and_logged(self, client, source, token_key):
        provider(source, kind="stored", answer_json=STORED)

        response = call(client, token_key, body={"eventType": "CustomInterviewEvent", "eventName": "NoSuchEvent"})

        assert response.status_code == 404
        assert "NoSuchEvent" in response.json()["detail"]
        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.http_status, delivery.event_name) == ("rejected", 404, "NoSuchEvent")

    def test_inactive_provider_is_not_used(self, client, source, token_key):
        provider(source, kind="stored", answer_json=STORED, is_active=False)

        assert (
            call(client, token_key, body={"eventType": "CustomInterviewEvent", "eventName": "GetClient"}).status_code
            == 404
        )

    def test_custom_event_without_a_name_is_a_400(self, client, source, token_key):
        assert call(client, token_key, body={"eventType": "CustomInterviewEvent"}).status_code == 400

    def test_interview_calls_need_the_token(self, client, source):
        response = client.get(URL, data={"eventType": "InterviewLoadEvent"})

        assert response.status_code == 401

    def test_other_events_by_get_are_a_405(self, client, token_key):
        response = call(client, token_key, method="get", query={"eventType": "NewWorkItemVersionComplete"})

        assert response.status_code == 405
        assert "NewWorkItemVersionComplete" in response.json()["detail"]
        assert Delivery.objects.get().http_status == 405

    def test_another_sources_answer_is_not_given(self, client, source, other_source, token_key):
        provider(other_source, kind="stored", answer_json=STORED)

        assert (
            call(client, token_key, body={"eventType": "CustomInterviewEvent", "eventName": "GetClient"}).status_code
            == 404
        )


@pytest.mark.django_db
class TestConfiguration:
    def test_invalid_stored_json_is_refused_with_where_it_breaks(self, source):
        with pytest.raises(ValidationError) as raised:
            provider(source, kind="stored", answer_json='{"a": 1,}')

        assert "Not valid JSON" in str(raised.value.message_dict["answer_json"])
        assert "line 1 column" in str(raised.value.message_dict["answer_json"])

    def test_unlisted_provider_path_is_refused(self, source):
        with pytest.raises(ValidationError) as raised:
            provider(source, kind="python", provider_path="os.system")

        assert "provider_path" in raised.value.message_dict

    def test_admin_add_form_shows_the_json_error(self, admin_client, source):
        response = admin_client.post(
            "/admin/interviews/answerprovider/add/",
            {
                "source": source.pk,
                "event_type": "CustomInterviewEvent",
                "event_name": "X",
                "kind": "stored",
                "answer_json": "{nope",
                "timeout_seconds": 5,
                "is_active": "on",
            },
        )

        assert response.status_code == 200
        assert "Not valid JSON" in response.content.decode()
        assert not AnswerProvider.objects.exists()

    def test_command_stores_the_answer_for_load_and_named_events(self, source, tmp_path):
        answer = tmp_path / "answer.json"
        answer.write_text(STORED)

        call_command("interview_answers_set", "acme", "--load", "--file", str(answer), stdout=StringIO())
        call_command("interview_answers_set", "acme", "--event", "GetClient", "--file", str(answer), stdout=StringIO())
        answer.write_text("[1]")
        call_command("interview_answers_set", "acme", "--event", "getclient", "--file", str(answer), stdout=StringIO())

        stored = {(p.event_type, p.event_name): p.answer_json for p in AnswerProvider.objects.all()}
        assert stored == {("InterviewLoadEvent", ""): STORED, ("CustomInterviewEvent", "GetClient"): "[1]"}

    def test_command_refuses_invalid_json_and_changes_nothing(self, source, tmp_path):
        answer_stored_set(source=source, event_type="InterviewLoadEvent", event_name="", answer_json="[]")
        bad = tmp_path / "bad.json"
        bad.write_text("{'single': 'quotes'}")

        with pytest.raises(CommandError, match="was not stored: Not valid JSON"):
            call_command("interview_answers_set", "acme", "--load", "--file", str(bad))

        assert AnswerProvider.objects.get().answer_json == "[]"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
class TestOverHttp:
    def test_simulated_advance_gets_the_stored_answer_by_post_and_get(self, live_server, source, token_key):
        provider(source, kind="stored", answer_json=STORED)
        url = f"{live_server.url}{URL}"

        for method in ("POST", "GET"):
            response = send_interview_call(
                url,
                token=token_key,
                event_type="CustomInterviewEvent",
                event_name="GetClient",
                method=method,
                work_item_id="w1",
            )
            assert response.status_code == 200
            assert response.content == STORED.encode()

    def test_post_processing_event_with_documents_syncs_them(
        self, live_server, celery_worker, bucket, advance, token_key
    ):
        document = SimDocument(name="Processed", kind="pdf")
        work_item = advance.add_work_item(documents=[document])
        payload = advance.event_payload(work_item, event_type="PostProcessingEvent")

        response = advance.send_webhook(f"{live_server.url}{URL}", payload, token=token_key)

        assert response.status_code == 202
        stored = wait_for(
            lambda: Document.objects.filter(status=Document.Status.STORED).first(), timeout=60, message="the document"
        )
        assert bucket.get(stored.storage_key)["Body"].read() == document_bytes(document)
        assert stored.storage_key.endswith(f"/{document.id}/Processed.pdf")

    def test_post_processing_event_without_documents_is_accepted_and_processed(
        self, live_server, celery_worker, token_key
    ):
        body = {"eventId": "pp-1", "eventType": "PostProcessingEvent", "data": {"workItemId": "w1"}}

        response = requests.post(f"{live_server.url}{URL}", json=body, headers={"Authorization": token_key}, timeout=10)

        assert response.status_code == 202
        wait_for(
            lambda: Delivery.objects.filter(event_id="pp-1", status=Delivery.Status.PROCESSED).exists(),
            timeout=30,
            message="the event to be processed",
        )
        assert not Document.objects.exists()

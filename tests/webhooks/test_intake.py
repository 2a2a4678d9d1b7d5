"""The webhook endpoint's answers (CONTRACT.md, HTTP), called in-process against PostgreSQL."""

import io
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.module_loading import import_string

from webhooks.models import Delivery, WebhookToken
from webhooks.parsers import PayloadTooLarge, RawJsonParser
from webhooks.services import token_issue, token_revoke

URL = "/webhooks/advance/"
# A copy of ../shared/advance/payload-new-work-item-version-complete.json, Advance's documented example.
EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "payload-new-work-item-version-complete.json"


@pytest.fixture
def example_payload() -> dict:
    return json.loads(EXAMPLE.read_text())


@pytest.fixture
def client() -> Client:
    return Client()


def post(
    client: Client, body, *, key: str | None, bearer: bool = True, content_type: str = "application/json", **extra
):
    headers = {}
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}" if bearer else key
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, **headers, **extra)


@pytest.mark.django_db
class TestAccepted:
    def test_new_event_is_stored_before_the_202_answer(self, client, token_key, example_payload):
        response = post(client, example_payload, key=token_key)

        assert response.status_code == 202
        body = response.json()
        assert body["status"] == "accepted"
        delivery = Delivery.objects.get(public_id=body["id"])
        assert delivery.status == Delivery.Status.ACCEPTED
        assert delivery.event_id == example_payload["eventId"]
        assert delivery.event_type == "NewWorkItemVersionComplete"
        assert bytes(delivery.raw_body) == json.dumps(example_payload).encode()
        assert delivery.source.slug == "acme"

    def test_bare_key_without_bearer_is_accepted(self, client, token_key, example_payload):
        assert post(client, example_payload, key=token_key, bearer=False).status_code == 202

    def test_keys_are_matched_without_regard_to_case_and_unknown_keys_kept(self, client, token_key):
        payload = {
            "EventId": "e-1",
            "EVENTTYPE": "newworkitemversioncomplete",
            "Data": {"WorkItemId": "w1", "workitemversionid": "v1", "Documents": [], "somethingNew": 1},
            "extra": {"nested": True},
        }
        response = post(client, payload, key=token_key)

        assert response.status_code == 202
        delivery = Delivery.objects.get(public_id=response.json()["id"])
        assert delivery.event_id == "e-1"
        assert delivery.event_type == "NewWorkItemVersionComplete"
        assert json.loads(bytes(delivery.raw_body))["extra"] == {"nested": True}

    @pytest.mark.parametrize("accept", ["text/html", "application/xml"])
    def test_any_accept_header_gets_the_event_stored_and_a_json_answer(
        self, client, token_key, example_payload, accept
    ):
        response = post(client, example_payload, key=token_key, HTTP_ACCEPT=accept)

        assert response.status_code == 202
        assert response["Content-Type"] == "application/json"
        assert Delivery.objects.filter(public_id=response.json()["id"], status=Delivery.Status.ACCEPTED).exists()

    def test_credentials_are_not_logged_with_the_headers(self, client, token_key, example_payload):
        response = post(client, example_payload, key=token_key, HTTP_X_REQUEST_ID="abc")

        delivery = Delivery.objects.get(public_id=response.json()["id"])
        assert delivery.headers["X-Request-Id"] == "abc"
        assert "Authorization" not in delivery.headers
        assert token_key not in json.dumps(delivery.headers)


@pytest.mark.django_db
class TestTheRequestDoesOneThing:
    def test_the_request_stores_the_event_unpublished_and_sends_no_message(
        self, client, token_key, example_payload, redis_queue_lengths
    ):
        before = redis_queue_lengths()

        response = post(client, example_payload, key=token_key)

        assert response.status_code == 202
        # The row is the outbox: the relay in the workers publishes it (webhooks/relay.py).
        delivery = Delivery.objects.get(public_id=response.json()["id"])
        assert (delivery.status, delivery.due_at) == (Delivery.Status.ACCEPTED, None)
        time.sleep(0.5)  # a publisher thread of the web process, as there was one, would have sent by now
        assert redis_queue_lengths() == before

    def test_the_row_is_written_whole_by_a_statement_postgresql_prepares_once_per_connection(
        self, client, token_key, example_payload
    ):
        from django.db import connection

        responses = []
        # psycopg prepares a statement once it has run more than prepare_threshold (5) times on a connection.
        for event_id in ("e-1", "e-2", "e-3", "e-4", "e-5", "e-6", "e-7"):
            responses.append(
                post(client, {**example_payload, "eventId": event_id}, key=token_key, REMOTE_ADDR="10.1.2.3")
            )

        assert [response.status_code for response in responses] == [202] * 7
        delivery = Delivery.objects.select_related("token").get(public_id=responses[1].json()["id"])
        assert (delivery.event_id, delivery.remote_addr, delivery.token.source.slug) == ("e-2", "10.1.2.3", "acme")
        assert (delivery.method, delivery.attempts, delivery.last_error, delivery.duplicate_of) == ("POST", 0, "", None)
        assert delivery.headers["Content-Type"] == "application/json"
        assert abs(delivery.received_at - timezone.now()) < timedelta(seconds=30)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
                ["INSERT INTO webhooks_delivery %"],
            )
            assert len(cursor.fetchall()) == 1

    def test_what_the_row_does_not_say_the_database_fills_with_the_models_defaults(
        self, client, token_key, example_payload
    ):
        response = post(client, example_payload, key=token_key)

        delivery = Delivery.objects.get(public_id=response.json()["id"])
        written = {"id", "public_id", "source", "token", "event_id", "event_type", "status", "http_status"}
        written |= {"raw_body", "headers", "remote_addr", "received_at"}
        left = [field for field in Delivery._meta.concrete_fields if field.name not in written]
        assert len(left) > 10
        for field in left:
            assert getattr(delivery, field.attname) == field.get_default(), field.name

    @pytest.mark.django_db(transaction=True)
    def test_a_connection_the_server_closed_while_idle_is_opened_again_and_the_event_stored(
        self, client, token_key, example_payload
    ):
        import threading

        from django.db import close_old_connections, connection, connections

        assert post(client, {**example_payload, "eventId": "e-1"}, key=token_key).status_code == 202
        backend = connection.connection.info.backend_pid

        def terminate() -> None:  # from a connection of its own, as a server restart would
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
            connections["default"].close()

        thread = threading.Thread(target=terminate)
        thread.start()
        thread.join()
        # What a served request's start does (Django's test client leaves it out): the connection is
        # checked before its first use (CONN_HEALTH_CHECKS) and opened again when the check fails.
        close_old_connections()
        response = post(client, {**example_payload, "eventId": "e-2"}, key=token_key)

        assert response.status_code == 202
        assert connection.connection.info.backend_pid != backend
        assert Delivery.objects.get(public_id=response.json()["id"]).event_id == "e-2"

    @pytest.mark.django_db(transaction=True)
    def test_behind_a_transaction_pooler_the_insert_is_not_prepared(
        self, client, token_key, example_payload, monkeypatch
    ):
        from django.db import connection

        from config.settings.base import _database

        monkeypatch.setenv("DATABASE_DISABLE_SERVER_SIDE_CURSORS", "1")
        pooled = _database("postgres://u@127.0.0.1:5432/db")
        assert pooled["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": None}
        connection.close()  # a new connection, which has prepared nothing yet
        monkeypatch.setitem(connection.settings_dict, "OPTIONS", pooled["OPTIONS"])
        monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
        try:
            for event_id in ("e-1", "e-2", "e-3", "e-4", "e-5", "e-6"):
                assert post(client, {**example_payload, "eventId": event_id}, key=token_key).status_code == 202
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_prepared_statements")
                assert cursor.fetchone()[0] == 0
        finally:
            connection.close()
        assert Delivery.objects.filter(event_id__startswith="e-", status=Delivery.Status.ACCEPTED).count() == 6

    @pytest.mark.parametrize(
        ("name", "adds"),
        [("SessionMiddleware", "session"), ("AuthenticationMiddleware", "user"), ("MessageMiddleware", "_messages")],
    )
    def test_browser_middleware_passes_webhook_calls_straight_on(self, rf, name, adds):
        from django.conf import settings
        from django.contrib.sessions.backends.db import SessionStore
        from django.http import HttpResponse

        path = next(path for path in settings.MIDDLEWARE if path.endswith(f".{name}"))
        middleware = import_string(path)(lambda request: HttpResponse())
        webhook, admin = rf.post(URL), rf.get("/admin/")
        if name != "SessionMiddleware":
            admin.session = SessionStore()  # as SessionMiddleware, before it, gives every browser request

        middleware(webhook)
        middleware(admin)

        assert not hasattr(webhook, adds)
        assert hasattr(admin, adds)


@pytest.fixture
def redis_queue_lengths():
    """The length of every queue the app publishes to, read from the broker."""
    from config.celery_app import app

    def lengths() -> dict[str, int]:
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            return {queue: client.llen(queue) for queue in ("intake", "documents", "default")}

    return lengths


@pytest.mark.django_db
class TestDuplicates:
    def test_second_delivery_of_an_event_answers_200_duplicate_with_the_same_id(
        self, client, token_key, example_payload
    ):
        first = post(client, example_payload, key=token_key)
        second = post(client, example_payload, key=token_key)

        assert second.status_code == 200
        assert second.json() == {"id": first.json()["id"], "status": "duplicate"}
        assert Delivery.objects.filter(status=Delivery.Status.ACCEPTED).count() == 1
        duplicate = Delivery.objects.get(status=Delivery.Status.DUPLICATE)
        assert str(duplicate.duplicate_of.public_id) == first.json()["id"]

    def test_same_event_id_from_another_source_is_a_new_event(
        self, client, token_key, source, other_source, example_payload
    ):
        _, other_key = token_issue(source=other_source, name="other")

        assert post(client, example_payload, key=token_key).status_code == 202
        assert post(client, example_payload, key=other_key).status_code == 202

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize("pruned_before", ["reading the stored event", "logging the duplicate"])
    def test_a_re_delivery_whose_event_is_pruned_as_it_is_logged_is_stored_as_a_new_event(
        self, client, token_key, example_payload, pruned_before
    ):
        import threading

        from django.db import connection, connections

        first = post(client, example_payload, key=token_key)
        stored = Delivery.objects.get(public_id=first.json()["id"])
        pruned = []

        def prune() -> None:  # from a connection of its own, as prune_deliveries runs
            Delivery.objects.filter(pk=stored.pk).delete()
            connections["default"].close()

        def pruning_between_the_intakes_statements(execute, sql, params, many, context):
            reading = sql.startswith("SELECT") and '"webhooks_delivery"."event_id" =' in sql
            logging = sql.startswith("INSERT") and '"duplicate_of_id"' in sql
            if not pruned and (reading if pruned_before == "reading the stored event" else logging):
                thread = threading.Thread(target=prune)
                thread.start()
                thread.join()
                pruned.append(True)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(pruning_between_the_intakes_statements):
            second = post(client, example_payload, key=token_key)

        assert pruned
        assert second.status_code == 202
        assert second.json()["status"] == "accepted"
        again = Delivery.objects.get(event_id=example_payload["eventId"])
        assert (again.status, str(again.public_id)) == (Delivery.Status.ACCEPTED, second.json()["id"])


@pytest.mark.django_db
class TestRejected:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b"{not json", "detail"),
            (b"[]", "detail"),
            (b"", "detail"),
            ({"eventType": "NewWorkItemVersionComplete", "data": {}}, "eventId"),
            ({"eventId": "x", "data": {}}, "eventType"),
            ({"eventId": "x", "eventType": "NewWorkItemVersionComplete"}, "data"),
            ({"eventId": "x", "eventType": "NewWorkItemVersionComplete", "data": {"workItemVersionId": "v"}}, "data"),
            ({"eventId": "x", "eventType": "SomethingElse", "data": {}}, "eventType"),
            ({"eventId": {"a": 1}, "eventType": "NewWorkItemVersionComplete", "data": {}}, "eventId"),
            ({"eventId": "x" * 201, "eventType": "NewWorkItemVersionComplete", "data": {}}, "eventId"),
        ],
    )
    def test_bad_payload_is_a_400_naming_what_is_wrong(self, client, token_key, body, field):
        response = post(client, body, key=token_key)

        assert response.status_code == 400
        assert field in response.json()
        delivery = Delivery.objects.get()
        assert delivery.status == Delivery.Status.REJECTED
        assert delivery.http_status == 400
        assert delivery.rejection_cause

    def test_path_traversal_in_an_id_is_refused(self, client, token_key, example_payload):
        example_payload["data"]["workItemId"] = "../../etc"

        response = post(client, example_payload, key=token_key)

        assert response.status_code == 400
        assert "workItemId" in response.json()["data"]

    def test_nul_character_is_a_400_not_a_database_error(self, client, token_key, example_payload):
        example_payload["eventId"] = "a\u0000b"

        assert post(client, example_payload, key=token_key).status_code == 400

    def test_deeply_nested_json_is_a_400(self, client, token_key):
        body = (
            b'{"eventId": "x", "eventType": "NewWorkItemVersionComplete", "data": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}"
        )

        assert post(client, body, key=token_key).status_code == 400

    def test_missing_token_is_401_with_www_authenticate(self, client, example_payload):
        response = post(client, example_payload, key=None)

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert Delivery.objects.get().http_status == 401

    @pytest.mark.parametrize("key", ["whk_unknown", "nonsense", "Bearer", "whk_" + "a" * 43])
    def test_unknown_token_is_401(self, client, source, key, example_payload):
        response = post(client, example_payload, key=key, bearer=False)

        assert response.status_code == 401
        assert "WWW-Authenticate" in response.headers

    def test_revoked_token_is_401(self, client, source, example_payload):
        token, key = token_issue(source=source, name="t")
        token_revoke(token=token)

        assert post(client, example_payload, key=key).status_code == 401

    def test_expired_token_is_401(self, client, source, example_payload):
        _, key = token_issue(source=source, name="t", expires_at=timezone.now() - timedelta(seconds=1))

        assert post(client, example_payload, key=key).status_code == 401

    def test_token_of_an_inactive_source_is_401(self, client, source, token_key, example_payload):
        source.is_active = False
        source.save()

        assert post(client, example_payload, key=token_key).status_code == 401

    def test_body_over_the_limit_is_413_from_content_length_alone(self, client, token_key, settings):
        settings.WEBHOOK_MAX_BODY_BYTES = 1000
        body = json.dumps({"eventId": "x", "pad": "y" * 2000})

        response = post(client, body, key=token_key)

        assert response.status_code == 413
        assert Delivery.objects.get().raw_body in (b"", memoryview(b""))

    def test_parser_stops_reading_at_the_limit_whatever_content_length_said(self, settings):
        settings.WEBHOOK_MAX_BODY_BYTES = 1000
        stream = io.BytesIO(b"{" + b" " * 5000 + b"}")

        with pytest.raises(PayloadTooLarge):
            RawJsonParser().parse(stream)
        assert stream.tell() == 1001

    @pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
    def test_other_content_type_is_415(self, client, token_key, example_payload, content_type):
        response = post(client, json.dumps(example_payload), key=token_key, content_type=content_type)

        assert response.status_code == 415
        assert Delivery.objects.get().http_status == 415

    @pytest.mark.parametrize("body", ["0=", "0=&1=x", "1=a&0=b&data=c"])
    def test_form_fields_named_like_list_indexes_are_a_400_not_a_server_error(self, client, token_key, body):
        response = post(client, body, key=token_key, content_type="application/x-www-form-urlencoded")

        assert response.status_code == 400
        assert Delivery.objects.get().http_status == 400

    def test_form_data_whose_boundary_finds_no_field_is_400_naming_it(self, client, token_key, example_payload):
        # Forms are accepted (Advance's HMAC sends its code in form data), but this one holds nothing.
        content_type = "multipart/form-data; boundary=x"
        response = post(client, json.dumps(example_payload), key=token_key, content_type=content_type)

        assert response.status_code == 400
        assert "boundary" in response.json()["detail"]
        assert Delivery.objects.get().http_status == 400

    def test_get_is_not_allowed(self, client, token_key):
        response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token_key}")

        assert response.status_code == 405


@pytest.mark.django_db
class TestTokens:
    def test_only_a_digest_of_the_key_is_stored(self, source):
        import hashlib

        token, key = token_issue(source=source, name="t")

        stored = WebhookToken.objects.values().get(pk=token.pk)
        assert key not in json.dumps(stored, default=str)
        assert stored["digest"] == hashlib.sha256(key.encode()).hexdigest()
        assert key.startswith(stored["lookup"])

    def test_last_used_is_written_once_a_minute(self, client, token_key, example_payload):
        post(client, example_payload, key=token_key)
        first = WebhookToken.objects.get().last_used_at
        example_payload["eventId"] = "another"
        post(client, example_payload, key=token_key)

        assert first is not None
        assert WebhookToken.objects.get().last_used_at == first

    def test_two_tokens_of_one_source_both_work(self, client, source, example_payload):
        _, first = token_issue(source=source, name="old")
        _, second = token_issue(source=source, name="new")

        assert post(client, example_payload, key=first).status_code == 202
        example_payload["eventId"] = "other"
        assert post(client, example_payload, key=second).status_code == 202


@pytest.mark.django_db
class TestCheckedTokens:
    def test_a_revocation_made_elsewhere_counts_once_the_cache_time_is_over(self, source, settings):
        from webhooks.services import token_authenticate

        token, key = token_issue(source=source, name="t")
        assert token_authenticate(key=key) == token
        # As another process would revoke it: no signal reaches this one.
        WebhookToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

        assert token_authenticate(key=key) == token  # trusted for WEBHOOK_TOKEN_CACHE_SECONDS
        settings.WEBHOOK_TOKEN_CACHE_SECONDS = 0
        assert token_authenticate(key=key) is None

    def test_a_revocation_or_deactivation_made_here_counts_at_once(self, source):
        from webhooks.services import token_authenticate

        token, key = token_issue(source=source, name="t")
        _, other_key = token_issue(source=source, name="other")
        assert token_authenticate(key=key) == token
        assert token_authenticate(key=other_key) is not None

        token_revoke(token=token)
        assert token_authenticate(key=key) is None
        source.is_active = False
        source.save()
        assert token_authenticate(key=other_key) is None

    def test_expiry_is_checked_on_every_call(self, source):
        from webhooks.services import token_authenticate

        token, key = token_issue(source=source, name="t", expires_at=timezone.now() + timedelta(milliseconds=300))
        assert token_authenticate(key=key) == token
        import time

        time.sleep(0.4)
        assert token_authenticate(key=key) is None


@pytest.mark.django_db
class TestSourceUrls:
    def test_the_auth_url_must_be_on_the_api_origin(self):
        from django.core.exceptions import ValidationError

        from sources.services import source_save

        with pytest.raises(ValidationError) as raised:
            source_save(
                slug="evil",
                api_base_url="https://acme.hotdocsadvance.com/api/rest/v1.1",
                auth_base_url="https://collector.example.net/auth",
                client_name="c",
                principal_name="p",
                principal_password="pw",
            )
        assert "auth_base_url" in raised.value.message_dict

    def test_moving_a_source_needs_its_password_again(self, source):
        from sources.services import source_save

        fields = dict(
            slug=source.slug,
            client_name="c",
            principal_name="p",
            update=True,
            api_base_url="https://other.example.com/api",
            auth_base_url="https://other.example.com/auth",
        )
        with pytest.raises(ValueError, match="password again"):
            source_save(principal_password=None, **fields)

        moved, _ = source_save(principal_password="new-pw", **fields)
        assert moved.principal_password == "new-pw"

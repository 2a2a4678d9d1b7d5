"""HMAC authentication on /webhooks/advance/<slug>/: the verifier against published test vectors,
then the endpoint with each configuration, rotation of the two secrets, and what is stored."""

import base64
import hashlib
import hmac
import json
import os
import time
from io import StringIO
from urllib.parse import quote, urlencode

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from interviews.services import answer_stored_set
from sources.models import Source
from webhooks.inbound import call_read
from webhooks.models import Delivery
from webhooks.services import (
    source_hmac_configure,
    source_hmac_previous_drop,
    source_hmac_secret_set,
    token_issue,
)
from webhooks.signatures import (
    HmacConfig,
    SignatureError,
    SignatureMatch,
    SignedRequest,
    schemes_matching,
    signature_make,
    signature_verify,
)

URL = "/webhooks/advance/acme/"

# Standard Webhooks' published test vector (the reference libraries' tests, e.g. svix's and
# standard-webhooks' own): checked below against a computation with nothing but the stdlib.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_PAYLOAD = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# GitHub's documented example (docs.github.com, "Validating webhook deliveries").
GH_SECRET = "It's a Secret to Everybody"
GH_PAYLOAD = b"Hello, World!"
GH_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

STANDARD = HmacConfig(signed_material="standard-webhooks")
GITHUB = HmacConfig(signed_material="github")


def meta(**headers: str) -> dict[str, str]:
    """Headers as a WSGI environ holds them."""
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def standard_request(*, body: bytes = SW_PAYLOAD, signature: str = SW_SIGNATURE, timestamp: int = SW_TIMESTAMP):
    headers = {"webhook-id": SW_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    return SignedRequest(raw_body=body, meta=meta(**headers), code=None)


# What a verified Standard Webhooks call leaves to be remembered against its replay: a digest of
# what it signed, and until when a replay would still be inside the 300 s tolerance.
SW_MATCH = SignatureMatch(
    replay_key=hashlib.sha256(f"{SW_ID}.{SW_TIMESTAMP}.".encode() + SW_PAYLOAD).hexdigest(),
    replay_until=SW_TIMESTAMP + 300,
)
NO_REPLAY = SignatureMatch()  # an untimestamped scheme: nothing to remember


# The published vectors, computed independently ---------------------------------------------


def test_the_standard_webhooks_vector_is_what_the_spec_computes():
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    material = f"{SW_ID}.{SW_TIMESTAMP}.".encode() + SW_PAYLOAD
    computed = "v1," + base64.b64encode(hmac.new(key, material, hashlib.sha256).digest()).decode()

    assert computed == SW_SIGNATURE


def test_the_github_vector_is_what_github_documents():
    computed = "sha256=" + hmac.new(GH_SECRET.encode(), GH_PAYLOAD, hashlib.sha256).hexdigest()

    assert computed == GH_SIGNATURE


# The verifier ------------------------------------------------------------------------------


class TestStandardWebhooksVector:
    def test_the_published_signature_verifies(self):
        match = signature_verify(config=STANDARD, secrets=[SW_SECRET], request=standard_request(), now=SW_TIMESTAMP)

        assert match == SW_MATCH

    def test_our_signer_reproduces_the_published_signature(self):
        made = signature_make(
            config=STANDARD, secret=SW_SECRET, raw_body=SW_PAYLOAD, timestamp=SW_TIMESTAMP, message_id=SW_ID
        )

        assert made == SW_SIGNATURE

    def test_the_secret_without_its_whsec_prefix_is_the_same_key(self):
        secret = SW_SECRET.removeprefix("whsec_")

        match = signature_verify(config=STANDARD, secrets=[secret], request=standard_request(), now=SW_TIMESTAMP)

        assert match == SW_MATCH

    def test_one_valid_signature_among_several_is_enough(self):
        request = standard_request(signature=f"v1,bm9wZQ== v1a,ignored {SW_SIGNATURE}")

        match = signature_verify(config=STANDARD, secrets=[SW_SECRET], request=request, now=SW_TIMESTAMP)

        assert match == SW_MATCH

    def test_a_wrong_secret_is_refused(self):
        with pytest.raises(SignatureError):
            signature_verify(
                config=STANDARD,
                secrets=["whsec_" + base64.b64encode(b"x" * 24).decode()],
                request=standard_request(),
                now=SW_TIMESTAMP,
            )

    def test_a_tampered_body_is_refused(self):
        with pytest.raises(SignatureError):
            signature_verify(
                config=STANDARD,
                secrets=[SW_SECRET],
                request=standard_request(body=b'{"test": 2432232315}'),
                now=SW_TIMESTAMP,
            )

    @pytest.mark.parametrize("offset", [301, -301, 10**6])
    def test_a_timestamp_outside_the_tolerance_is_refused(self, offset):
        with pytest.raises(SignatureError, match="timestamp"):
            signature_verify(
                config=STANDARD, secrets=[SW_SECRET], request=standard_request(), now=SW_TIMESTAMP + offset
            )

    def test_a_timestamp_at_the_edge_of_the_tolerance_is_accepted(self):
        match = signature_verify(
            config=STANDARD, secrets=[SW_SECRET], request=standard_request(), now=SW_TIMESTAMP + 300
        )

        assert match == SW_MATCH  # remembered against a replay until this very second

    def test_a_signature_without_its_version_is_refused(self):
        with pytest.raises(SignatureError):
            signature_verify(
                config=STANDARD,
                secrets=[SW_SECRET],
                request=standard_request(signature=SW_SIGNATURE[3:]),
                now=SW_TIMESTAMP,
            )


class TestGithubVector:
    def test_the_documented_signature_verifies(self):
        request = SignedRequest(raw_body=GH_PAYLOAD, meta=meta(**{"X-Hub-Signature-256": GH_SIGNATURE}), code=None)

        assert signature_verify(config=GITHUB, secrets=[GH_SECRET], request=request, now=time.time()) == NO_REPLAY
        with pytest.raises(SignatureError):  # the same request, another secret: the match above was earned
            signature_verify(config=GITHUB, secrets=[GH_SECRET + "!"], request=request, now=time.time())

    def test_our_signer_reproduces_the_documented_signature(self):
        assert signature_make(config=GITHUB, secret=GH_SECRET, raw_body=GH_PAYLOAD) == GH_SIGNATURE

    @pytest.mark.parametrize(
        ("secret", "body", "signature"),
        [
            ("It's a Secret to Everybody!", GH_PAYLOAD, GH_SIGNATURE),
            (GH_SECRET, b"Hello, World?", GH_SIGNATURE),
            (GH_SECRET, GH_PAYLOAD, GH_SIGNATURE[:-1] + "0"),
            (GH_SECRET, GH_PAYLOAD, GH_SIGNATURE.removeprefix("sha256=")),
            (GH_SECRET, GH_PAYLOAD, ""),
        ],
    )
    def test_a_wrong_secret_body_or_signature_is_refused(self, secret, body, signature):
        request = SignedRequest(raw_body=body, meta=meta(**{"X-Hub-Signature-256": signature}), code=None)

        with pytest.raises(SignatureError):
            signature_verify(config=GITHUB, secrets=[secret], request=request, now=time.time())


def _third_secret_request() -> SignedRequest:
    return SignedRequest(b"b", {}, hmac.new(b"third", b"b", hashlib.sha256).hexdigest())


class TestConfigurableVerifier:
    @pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
    @pytest.mark.parametrize("encoding", ["hex", "base64"])
    def test_each_algorithm_and_encoding_verifies_a_code_made_with_the_stdlib(self, algorithm, encoding):
        digest = hmac.new(b"s3cret", b"{}", getattr(hashlib, algorithm)).digest()
        code = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
        config = HmacConfig(algorithm=algorithm, encoding=encoding, code_location="header", header_name="X-Code")

        match = signature_verify(
            config=config, secrets=["s3cret"], request=SignedRequest(b"{}", meta(**{"X-Code": code}), None), now=0
        )

        assert match == NO_REPLAY
        with pytest.raises(SignatureError):
            signature_verify(
                config=config, secrets=["other"], request=SignedRequest(b"{}", meta(**{"X-Code": code}), None), now=0
            )

    @pytest.mark.parametrize(
        "spelling",
        [
            lambda digest: digest.hex().upper(),
            lambda digest: base64.urlsafe_b64encode(digest).decode().rstrip("="),
            lambda digest: base64.b64encode(digest).decode().rstrip("="),
        ],
    )
    def test_hex_case_and_base64_flavours_do_not_matter(self, spelling):
        digest = hmac.new(b"k", b"body", hashlib.sha256).digest()
        encoding = "hex" if spelling(digest) == digest.hex().upper() else "base64"
        config = HmacConfig(encoding=encoding, code_location="form")

        request = SignedRequest(b"body", {}, spelling(digest))

        assert signature_verify(config=config, secrets=["k"], request=request, now=0) == NO_REPLAY
        with pytest.raises(SignatureError):
            signature_verify(config=config, secrets=["K"], request=request, now=0)

    def test_the_prefix_is_removed_and_the_authorization_scheme_skipped(self):
        digest = hmac.new(b"k", b"body", hashlib.sha512).hexdigest()
        config = HmacConfig(algorithm="sha512", encoding="hex", code_location="authorization", prefix="sha512=")

        for header in (f"sha512={digest}", f"HMAC {digest}", digest):
            request = SignedRequest(b"body", {"HTTP_AUTHORIZATION": header}, None)
            assert signature_verify(config=config, secrets=["k"], request=request, now=0) == NO_REPLAY, header
            with pytest.raises(SignatureError):
                signature_verify(config=config, secrets=["K"], request=request, now=0)

    def test_timestamp_dot_body_signs_the_timestamp_header(self):
        config = HmacConfig(
            signed_material="timestamp.body",
            code_location="header",
            header_name="X-Sig",
            timestamp_header="X-Timestamp",
            encoding="hex",
        )
        code = hmac.new(b"k", b"1700000000.body", hashlib.sha256).hexdigest()
        headers = meta(**{"X-Sig": code, "X-Timestamp": "1700000000"})

        match = signature_verify(
            config=config, secrets=["k"], request=SignedRequest(b"body", headers, None), now=1700000100
        )

        assert match == SignatureMatch(
            replay_key=hashlib.sha256(b"1700000000.body").hexdigest(), replay_until=1700000000 + 300
        )
        with pytest.raises(SignatureError, match="timestamp"):
            signature_verify(
                config=config, secrets=["k"], request=SignedRequest(b"body", headers, None), now=1700001000
            )
        replayed = meta(**{"X-Sig": code, "X-Timestamp": "1700000500"})
        with pytest.raises(SignatureError):
            signature_verify(
                config=config, secrets=["k"], request=SignedRequest(b"body", replayed, None), now=1700000500
            )

    def test_either_of_two_secrets_verifies(self):
        config = HmacConfig(encoding="hex")
        for secret in ("current", "previous"):
            code = hmac.new(secret.encode(), b"b", hashlib.sha256).hexdigest()
            request = SignedRequest(b"b", {}, code)
            assert signature_verify(config=config, secrets=["current", "previous"], request=request, now=0) == NO_REPLAY
        with pytest.raises(SignatureError):  # a third secret is neither
            signature_verify(config=config, secrets=["current", "previous"], request=_third_secret_request(), now=0)

    @pytest.mark.parametrize("code", ["", "not base64!", "=" * 10, "a" * 5000, "\u00e9\u00e9"])
    def test_garbage_codes_are_refused_not_raised(self, code):
        with pytest.raises(SignatureError):
            signature_verify(config=HmacConfig(), secrets=["k"], request=SignedRequest(b"b", {}, code), now=0)


# The endpoint ------------------------------------------------------------------------------


def event_body(event_id: str = "evt-hmac-1") -> bytes:
    # Odd spacing and key order on purpose: the code is verified over the bytes as sent.
    return (
        b'{"eventType":"NewWorkItemVersionComplete",  "eventId": "' + event_id.encode() + b'",'
        b'"data": {"workItemId": "wi-1", "workItemVersionId": "v-1", "documents": []}}'
    )


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def hmac_source(source: Source) -> Source:
    """The Advance default as far as it is documented: a code in the form field `token`."""
    source_hmac_configure(
        source=source, algorithm="sha256", encoding="base64", signed_material="body", code_location="form"
    )
    source_hmac_secret_set(source=source, secret="advance-secret-1")
    return source


def b64_code(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_with_token_field(client: Client, body: bytes, code: str, url: str = URL):
    return client.post(f"{url}?token={quote(code, safe='')}", data=body, content_type="application/json")


def standard_headers(secret: str, body: bytes, *, timestamp: int | None = None, message_id: str = "msg_1") -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = signature_make(
        config=STANDARD, secret=secret, raw_body=body, timestamp=timestamp, message_id=message_id
    )
    return {
        "HTTP_WEBHOOK_ID": message_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


@pytest.mark.django_db
class TestEndpoint:
    def test_a_valid_code_in_the_token_field_is_accepted_and_stored_for_the_source(self, client, hmac_source):
        body = event_body()

        response = post_with_token_field(client, body, b64_code("advance-secret-1", body))

        assert response.status_code == 202, response.content
        delivery = Delivery.objects.get(public_id=response.json()["id"])
        assert (delivery.source, delivery.token, delivery.status) == (hmac_source, None, Delivery.Status.ACCEPTED)
        assert bytes(delivery.raw_body) == body

    def test_a_get_with_the_code_in_the_query_is_authenticated(self, client, hmac_source):
        code = b64_code("advance-secret-1", b"")

        response = client.get(URL, {"eventType": "InterviewLoadEvent", "token": code})

        assert response.status_code == 404  # authenticated; no answer is configured for this source
        assert Delivery.objects.get().source == hmac_source

    @pytest.mark.parametrize(
        "case", ["wrong secret", "tampered body", "no code", "code of an empty body", "garbage code"]
    )
    def test_a_bad_code_is_401_with_www_authenticate_and_kept_for_a_second_check_without_the_code(
        self, client, hmac_source, case
    ):
        body = event_body()
        code = {
            "wrong secret": b64_code("advance-secret-2", body),
            "tampered body": b64_code("advance-secret-1", body.replace(b"wi-1", b"wi-2")),
            "no code": "",
            "code of an empty body": b64_code("advance-secret-1", b""),
            "garbage code": "%%%",
        }[case]

        response = post_with_token_field(client, body, code)

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("HMAC")
        delivery = Delivery.objects.get()
        # Kept to be checked again once the scheme is right (issue 11); the code only encrypted.
        assert (delivery.source, delivery.http_status, bytes(delivery.raw_body)) == (hmac_source, 401, body)
        assert delivery.rejection_cause.startswith("hmac:")
        assert delivery.query_string == "" and delivery.credentials_encrypted
        if len(code) > 4:
            assert code not in delivery.credentials_encrypted and quote(code, safe="") not in delivery.query_string

    def test_the_published_standard_webhooks_vector_authenticates_through_the_endpoint(self, client, source):
        # The vector's timestamp is from 2021: a tolerance reaching back to it lets the exact bytes through.
        source_hmac_configure(
            source=source, signed_material="standard-webhooks", tolerance_seconds=int(time.time()) - SW_TIMESTAMP + 3600
        )
        source_hmac_secret_set(source=source, secret=SW_SECRET)
        headers = {
            "HTTP_WEBHOOK_ID": SW_ID,
            "HTTP_WEBHOOK_TIMESTAMP": str(SW_TIMESTAMP),
            "HTTP_WEBHOOK_SIGNATURE": SW_SIGNATURE,
        }

        response = client.post(URL, data=SW_PAYLOAD, content_type="application/json", **headers)

        # Authenticated, then refused for what it says: {"test": ...} is no Advance event.
        assert response.status_code == 400
        assert Delivery.objects.get().rejection_cause == "missing or malformed field"
        tampered = client.post(URL, data=SW_PAYLOAD.replace(b"4", b"5"), content_type="application/json", **headers)
        assert tampered.status_code == 401

    def test_the_published_github_vector_authenticates_through_the_endpoint(self, client, source):
        source_hmac_configure(source=source, signed_material="github")
        source_hmac_secret_set(source=source, secret=GH_SECRET)

        response = client.post(
            URL, data=GH_PAYLOAD, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=GH_SIGNATURE
        )

        assert response.status_code == 400  # authenticated; "Hello, World!" is not JSON
        assert Delivery.objects.get().rejection_cause == "invalid JSON"
        wrong = client.post(
            URL, data=b"Hello, World?", content_type="application/json", HTTP_X_HUB_SIGNATURE_256=GH_SIGNATURE
        )
        assert wrong.status_code == 401

    def test_standard_webhooks_event_is_accepted_and_an_old_timestamp_refused(self, client, source):
        source_hmac_configure(source=source, signed_material="standard-webhooks")
        source_hmac_secret_set(source=source, secret=SW_SECRET)
        body = event_body()

        accepted = client.post(URL, data=body, content_type="application/json", **standard_headers(SW_SECRET, body))
        old = client.post(
            URL,
            data=body,
            content_type="application/json",
            **standard_headers(SW_SECRET, body, timestamp=int(time.time()) - 301),
        )

        assert accepted.status_code == 202
        assert old.status_code == 401
        stored = Delivery.objects.get(status=Delivery.Status.ACCEPTED)
        assert not {"Webhook-Signature", "Authorization"} & set(stored.headers)
        assert stored.headers["Webhook-Id"] == "msg_1"

    def test_the_authorization_header_location_with_a_prefix(self, client, source):
        source_hmac_configure(
            source=source, code_location="authorization", encoding="hex", algorithm="sha512", prefix="sha512="
        )
        source_hmac_secret_set(source=source, secret="k")
        body = event_body()
        code = hmac.new(b"k", body, hashlib.sha512).hexdigest()

        response = client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"sha512={code}")

        assert response.status_code == 202

    def test_a_body_over_the_limit_is_413_before_the_code_is_checked(self, client, hmac_source, settings):
        settings.WEBHOOK_MAX_BODY_BYTES = 100
        body = event_body() + b" " * 200

        response = post_with_token_field(client, body, b64_code("advance-secret-1", body))

        assert response.status_code == 413
        assert Delivery.objects.get().http_status == 413


@pytest.mark.django_db
class TestRotation:
    def test_the_previous_secret_is_accepted_until_dropped(self, client, hmac_source):
        source_hmac_secret_set(source=hmac_source, secret="advance-secret-2")  # keeps secret 1 as the previous one

        for number, secret in enumerate(["advance-secret-1", "advance-secret-2"]):
            body = event_body(f"rotation-{number}")
            assert post_with_token_field(client, body, b64_code(secret, body)).status_code == 202

        assert source_hmac_previous_drop(source=hmac_source) is True
        body = event_body("after-drop")
        assert post_with_token_field(client, body, b64_code("advance-secret-1", body)).status_code == 401
        assert post_with_token_field(client, body, b64_code("advance-secret-2", body)).status_code == 202

    def test_a_regenerated_secret_without_keeping_the_previous_refuses_the_old_one(self, client, hmac_source):
        source_hmac_secret_set(source=hmac_source, secret="advance-secret-2", keep_previous=False)
        body = event_body()

        assert post_with_token_field(client, body, b64_code("advance-secret-1", body)).status_code == 401
        assert post_with_token_field(client, body, b64_code("advance-secret-2", body)).status_code == 202

    def test_only_two_secrets_are_ever_accepted(self, client, hmac_source):
        source_hmac_secret_set(source=hmac_source, secret="advance-secret-2")
        source_hmac_secret_set(source=hmac_source, secret="advance-secret-3")
        body = event_body()

        assert post_with_token_field(client, body, b64_code("advance-secret-1", body)).status_code == 401
        assert post_with_token_field(client, body, b64_code("advance-secret-2", body)).status_code == 202

    def test_secrets_are_stored_encrypted(self, hmac_source):
        source_hmac_secret_set(source=hmac_source, secret="advance-secret-2")

        stored = json.dumps(list(Source.objects.values()), default=str)
        assert "advance-secret-1" not in stored and "advance-secret-2" not in stored
        assert Source.objects.get().hmac_secrets == ["advance-secret-2", "advance-secret-1"]


@pytest.mark.django_db
class TestWhichCredentialWhere:
    def test_a_token_is_refused_on_the_slug_url_of_an_hmac_source(self, client, source):
        _, key = token_issue(source=source, name="t")
        source_hmac_configure(source=source)
        source_hmac_secret_set(source=source, secret="s")

        response = client.post(
            URL, data=event_body(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )

        assert response.status_code == 401

    def test_an_hmac_source_refuses_its_tokens_on_the_plain_url(self, client, token_key, source):
        source_hmac_configure(source=source)
        source_hmac_secret_set(source=source, secret="s")

        response = client.post(
            "/webhooks/advance/",
            data=event_body(),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token_key}",
        )

        assert response.status_code == 401

    def test_a_token_source_takes_its_own_tokens_on_its_slug_url_and_no_other(
        self, client, token_key, source, other_source
    ):
        _, other_key = token_issue(source=other_source, name="other")

        own = client.post(
            URL, data=event_body(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_key}"
        )
        foreign = client.post(
            URL, data=event_body("x"), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {other_key}"
        )
        missing = client.post(URL, data=event_body("y"), content_type="application/json")

        assert own.status_code == 202
        assert (foreign.status_code, missing.status_code) == (401, 401)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("slug", ["nobody", "inactive"])
    def test_an_unknown_or_inactive_source_is_401(self, client, hmac_source, slug):
        if slug == "inactive":
            Source.objects.filter(pk=hmac_source.pk).update(is_active=False)
            slug = hmac_source.slug
        body = event_body()

        response = post_with_token_field(
            client, body, b64_code("advance-secret-1", body), url=f"/webhooks/advance/{slug}/"
        )

        assert response.status_code == 401
        assert Delivery.objects.get().http_status == 401


@pytest.mark.django_db
class TestCommand:
    def test_webhook_hmac_set_configures_and_rotates_from_the_environment(self, source, monkeypatch):
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", "first")
        out = StringIO()
        call_command("webhook_hmac_set", "acme", "--signed-material", "github", stdout=out)
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", "second")
        call_command("webhook_hmac_set", "acme", stdout=out)

        source.refresh_from_db()
        assert (source.auth_method, source.hmac_signed_material) == ("hmac", "github")
        assert source.hmac_secrets == ["second", "first"]
        assert "first" not in out.getvalue() and "second" not in out.getvalue()

        monkeypatch.delitem(os.environ, "ADVANCE_HMAC_SECRET")
        call_command("webhook_hmac_set", "acme", "--drop-previous", stdout=out)
        source.refresh_from_db()
        assert source.hmac_secrets == ["second"]

    def test_a_header_location_without_a_header_name_is_refused(self, source, monkeypatch):
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", "first")

        with pytest.raises(CommandError, match="hmac_header_name"):
            call_command("webhook_hmac_set", "acme", "--code-in", "header", stdout=StringIO())

    def test_a_whsec_secret_that_is_not_base64_is_refused(self, source, monkeypatch):
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", "whsec_not base64!")

        with pytest.raises(CommandError, match="base64"):
            call_command("webhook_hmac_set", "acme", stdout=StringIO())

    def test_a_refused_secret_leaves_the_source_as_it_was(self, source, monkeypatch):
        # Standard Webhooks secrets are base64: this one cannot be used with the settings asked for.
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", "not base64!")
        before = Source.objects.values().get(pk=source.pk)

        with pytest.raises(CommandError, match="Unusable HMAC secret"):
            call_command("webhook_hmac_set", "acme", "--signed-material", "standard-webhooks", stdout=StringIO())

        # Not switched to HMAC without a secret, which would refuse every call of its tokens.
        assert Source.objects.values().get(pk=source.pk) == before


@pytest.mark.django_db
class TestReplay:
    def test_a_replayed_standard_webhooks_signature_is_401_and_makes_no_second_event(self, client, source):
        source_hmac_configure(source=source, signed_material="standard-webhooks")
        source_hmac_secret_set(source=source, secret=SW_SECRET)
        body = event_body("replayed-1")
        headers = standard_headers(SW_SECRET, body, message_id="msg_replayed")

        first = client.post(URL, data=body, content_type="application/json", **headers)
        replayed = client.post(URL, data=body, content_type="application/json", **headers)

        assert (first.status_code, replayed.status_code) == (202, 401)
        assert Delivery.objects.filter(event_id="replayed-1").count() == 1
        refused = Delivery.objects.get(http_status=401)
        assert "replay" in refused.rejection_cause
        assert refused.credentials_encrypted == ""  # a replay is not kept for a second check

    def test_a_replayed_timestamp_dot_body_code_is_401_and_a_new_timestamp_is_not_a_replay(self, client, source):
        source_hmac_configure(
            source=source,
            signed_material="timestamp.body",
            code_location="header",
            header_name="X-Sig",
            timestamp_header="X-Timestamp",
        )
        source_hmac_secret_set(source=source, secret="k")
        body = event_body("replayed-2")

        def send(timestamp: int):
            code = b64_code("k", f"{timestamp}.".encode() + body)
            return client.post(
                URL, data=body, content_type="application/json", HTTP_X_SIG=code, HTTP_X_TIMESTAMP=str(timestamp)
            )

        now = int(time.time())
        assert [send(now).status_code, send(now).status_code, send(now - 1).status_code] == [202, 401, 200]
        assert Delivery.objects.filter(event_id="replayed-2", status=Delivery.Status.ACCEPTED).count() == 1

    def test_a_call_that_failed_before_it_was_stored_is_answered_when_retried_as_it_was(self, client, source):
        source_hmac_configure(source=source, signed_material="standard-webhooks")
        source_hmac_secret_set(source=source, secret=SW_SECRET)
        body = json.dumps({"eventType": "CustomInterviewEvent", "eventName": "GetClient"}).encode()
        headers = standard_headers(SW_SECRET, body, message_id="msg_retried")

        # No answer configured yet: Advance is told 404 and retries the same signed call later.
        failed = client.post(URL, data=body, content_type="application/json", **headers)
        answer_stored_set(source=source, event_type="CustomInterviewEvent", event_name="GetClient", answer_json="{}")
        retried = client.post(URL, data=body, content_type="application/json", **headers)
        replayed = client.post(URL, data=body, content_type="application/json", **headers)

        assert (failed.status_code, retried.status_code, replayed.status_code) == (404, 200, 401)
        assert retried.json() == {}
        assert "replay" in Delivery.objects.get(http_status=401).rejection_cause


@pytest.mark.django_db
class TestStaticCode:
    @pytest.mark.parametrize(
        ("material", "static"), [("body", True), ("shared-value", True), ("standard-webhooks", False)]
    )
    def test_webhook_hmac_set_says_plainly_when_the_code_is_static(self, source, monkeypatch, material, static):
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", SW_SECRET)
        out = StringIO()

        call_command("webhook_hmac_set", "acme", "--signed-material", material, stdout=out)

        assert ("the code is static" in out.getvalue()) is static
        assert ("a password in effect" in out.getvalue()) is static

    def test_the_new_schemes_are_choices_of_the_command(self, source, monkeypatch):
        monkeypatch.setitem(os.environ, "ADVANCE_HMAC_SECRET", "s")
        for material in ("body-without-token", "json-field", "shared-value"):
            call_command("webhook_hmac_set", "acme", "--signed-material", material, stdout=StringIO())
            source.refresh_from_db()
            assert source.hmac_signed_material == material


def signed_form(raw_body: bytes) -> SignedRequest:
    """What the verifier reads of a url-encoded call, read as the endpoint reads it."""
    meta = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    return SignedRequest.of(call_read(method="POST", meta=meta, raw_body=raw_body))


class TestNewSchemes:
    def test_body_without_token_signs_the_form_byte_for_byte_without_the_token_pair(self):
        rest = b"eventId=e%201&data[workItemId]=w&&z=%7E"
        code = b64_code("k", rest)
        for body in (
            rest + b"&token=" + quote(code, safe="").encode(),
            b"token=" + quote(code, safe="").encode() + b"&" + rest,
            b"eventId=e%201&TOKEN=" + quote(code, safe="").encode() + b"&data[workItemId]=w&&z=%7E",
        ):
            request = signed_form(body)
            match = signature_verify(
                config=HmacConfig(signed_material="body-without-token"), secrets=["k"], request=request, now=0
            )
            assert match == NO_REPLAY, body
        with pytest.raises(SignatureError):
            tampered = signed_form(rest.replace(b"w", b"x") + b"&token=x")
            signature_verify(
                config=HmacConfig(signed_material="body-without-token"), secrets=["k"], request=tampered, now=0
            )

    def test_json_field_signs_the_field_value_and_shared_value_compares_the_secret(self):
        value = '{"eventId": "e", "eventType": "NewWorkItemVersionComplete"}'
        body = urlencode([("payload", value), ("token", b64_code("k", value.encode()))]).encode()
        request = signed_form(body)
        json_field = HmacConfig(signed_material="json-field")
        assert signature_verify(config=json_field, secrets=["k"], request=request, now=0) == NO_REPLAY
        with pytest.raises(SignatureError):
            signature_verify(config=json_field, secrets=["K"], request=request, now=0)

        shared = SignedRequest(b"", {}, "the-shared-secret")
        match = signature_verify(
            config=HmacConfig(signed_material="shared-value"), secrets=["x", "the-shared-secret"], request=shared, now=0
        )
        assert match == NO_REPLAY
        with pytest.raises(SignatureError):
            signature_verify(
                config=HmacConfig(signed_material="shared-value"), secrets=["the-shared-secreT"], request=shared, now=0
            )

    def test_schemes_matching_finds_the_scheme_a_refused_call_was_made_with(self):
        body = b"a=1"
        code = hmac.new(b"k", body, hashlib.sha512).hexdigest()
        request = SignedRequest(body, meta(**{"X-Code": f"sha512={code}"}), None)

        found = schemes_matching(base=HmacConfig(), secrets=["k"], request=request, now=0, header_names=["X-Code"])

        assert [
            (s.signed_material, s.algorithm, s.encoding, s.code_location, s.header_name, s.prefix) for s in found
        ] == [
            ("body", "sha512", "hex", "header", "X-Code", "sha512="),
            ("body-without-token", "sha512", "hex", "header", "X-Code", "sha512="),
        ]

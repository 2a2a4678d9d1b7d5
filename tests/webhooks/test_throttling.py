"""Failed authentication from one address is throttled (429 with Retry-After), through the real
cache (Redis, as `make test` starts it); calls that authenticate are never throttled, and calls
without any credential (or on a URL that names no source) are never counted: always 401."""

import base64
import contextlib
import hashlib
import hmac
import time

import pytest
from django.core.cache import cache
from django.test import Client

from sources.services import source_save
from tests.factories import event_json
from webhooks.models import Delivery
from webhooks.services import client_address, source_hmac_configure, source_hmac_secret_set
from webhooks.services import tokens as throttle

URL = "/webhooks/advance/"
LIMIT = 3
# A minute's start (1_800_000_000 is a multiple of 60), and a time 17.25 s into it: a call there
# is told to come back after the 43 s left (Retry-After is whole seconds, rounded up).
MINUTE = 1_800_000_000
NOW = MINUTE + 17.25


class Clock:
    """The clock the throttle reads (time.time() in webhooks/services/tokens.py), set by the test:
    its windows are aligned on it, so a test's calls never straddle a boundary by chance. The
    module's other waits (time.monotonic()) run on as they do."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    fixed = Clock(NOW)
    monkeypatch.setattr(throttle, "time", fixed)
    return fixed


@pytest.fixture(autouse=True)
def _throttle(settings, clock):
    settings.WEBHOOK_AUTH_FAILURE_LIMIT = LIMIT
    settings.WEBHOOK_AUTH_FAILURE_WINDOW = 60
    cache.clear()
    yield
    with contextlib.suppress(Exception):  # the outage test's cache is still configured here
        cache.clear()


def call(key: str | None, *, address: str = "203.0.113.7", event_id: str = "e-1", url: str = URL, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client().post(
        url, data=event_json(event_id), content_type="application/json", REMOTE_ADDR=address, **headers, **extra
    )


def failure_keys() -> list:
    return cache._cache.get_client().keys("*auth-failures*")


@pytest.mark.django_db
class TestThrottling:
    def test_failures_past_the_limit_get_429_with_retry_after_and_are_not_logged(self, source):
        answers = [call("whk_wrong").status_code for _ in range(LIMIT)]
        throttled = call("whk_wrong")

        assert answers == [401] * LIMIT
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "43"
        assert Delivery.objects.filter(http_status=401).count() == LIMIT
        assert not Delivery.objects.filter(http_status=429).exists()

    def test_calls_without_credentials_always_get_401_and_do_not_count(self, source, token_key):
        # Nothing was guessed: a sender that lost its token is told so (401), however often it calls;
        # so is one calling a URL whose slug names no source (no credential was checked there).
        bare = [call(None).status_code for _ in range(LIMIT + 3)]
        unknown_source = [call(key, url=f"{URL}no-such-source/").status_code for key in [None, token_key] * LIMIT]
        # A wrong token from that address still counts, from the first.
        wrong = [call("whk_wrong").status_code for _ in range(LIMIT + 1)]

        assert bare == [401] * (LIMIT + 3)
        assert unknown_source == [401] * (2 * LIMIT)
        assert wrong == [401] * LIMIT + [429]
        assert call(None).status_code == 401  # the address is throttled; a call without a credential is not

    def test_a_missing_hmac_code_on_an_hmac_sources_url_counts(self, source):
        source_hmac_configure(source=source, encoding="base64")
        source_hmac_secret_set(source=source, secret="s")

        answers = [call(None, url=f"{URL}acme/").status_code for _ in range(LIMIT + 1)]

        assert answers == [401] * LIMIT + [429]

    def test_a_valid_token_from_a_throttled_address_is_still_accepted(self, token_key):
        for _ in range(LIMIT + 2):
            call("whk_wrong")

        assert call(token_key).status_code == 202

    def test_a_successful_call_writes_nothing_to_the_cache(self, token_key):
        assert call(token_key).status_code == 202
        assert call(token_key, event_id="e-2").status_code == 202

        assert failure_keys() == []

    def test_other_addresses_are_not_throttled(self, source):
        for _ in range(LIMIT + 1):
            call("whk_wrong", address="198.51.100.1")

        assert call("whk_wrong", address="198.51.100.2").status_code == 401

    def test_hmac_failures_are_throttled_too(self, source):
        source_hmac_configure(source=source, encoding="base64")
        source_hmac_secret_set(source=source, secret="s")
        url = f"{URL}acme/?token=bm9wZQ=="

        answers = [call(None, url=url).status_code for _ in range(LIMIT + 1)]
        body = event_json("e-ok").encode()
        code = base64.b64encode(hmac.new(b"s", body, hashlib.sha256).digest()).decode()
        valid = Client().post(
            f"{URL}acme/?token={code.replace('+', '%2B').replace('/', '%2F')}",
            data=body,
            content_type="application/json",
            REMOTE_ADDR="203.0.113.7",
        )

        assert answers == [401] * LIMIT + [429]
        assert valid.status_code == 202

    def test_the_window_ends(self, source, settings, clock):
        settings.WEBHOOK_AUTH_FAILURE_WINDOW = 2
        clock.now = MINUTE + 0.5  # half a second into a window of 2 s

        for _ in range(LIMIT):
            call("whk_wrong")
        throttled = call("whk_wrong")
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "2"  # 1.5 s left, rounded up
        clock.now = MINUTE + 1.75
        assert call("whk_wrong").headers["Retry-After"] == "1"  # 0.25 s left, rounded up

        clock.now = MINUTE + 2  # the next window

        assert call("whk_wrong").status_code == 401

    def test_a_cache_outage_throttles_nobody_and_answers_401(self, source, settings):
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing answers
                "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
            }
        }

        answers = {call("whk_wrong").status_code for _ in range(LIMIT + 2)}

        assert answers == {401}


class TestClientAddress:
    def test_forwarded_for_is_ignored_without_trusted_proxies(self, settings):
        settings.WEBHOOK_TRUSTED_PROXIES = 0

        assert client_address({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}) == "10.0.0.1"

    def test_behind_one_proxy_the_address_it_appended_counts(self, settings):
        settings.WEBHOOK_TRUSTED_PROXIES = 1
        # The client wrote 6.6.6.6 itself; our proxy appended the address it saw.
        meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}

        assert client_address(meta) == "203.0.113.9"

    @pytest.mark.parametrize("remote_addr", ["", "unix:/run/gunicorn.sock", "garbage", "::ffff:999.1.1.1"])
    def test_an_address_that_is_not_an_ip_is_none(self, remote_addr, settings):
        settings.WEBHOOK_TRUSTED_PROXIES = 0

        assert client_address({"REMOTE_ADDR": remote_addr}) is None


@pytest.mark.django_db
def test_a_remote_addr_that_is_not_an_ip_is_logged_as_none_not_a_5xx(source):
    response = call("whk_wrong", address="unix:/run/gunicorn.sock")

    assert response.status_code == 401
    assert Delivery.objects.get().remote_addr is None


@pytest.mark.django_db
class TestUnauthenticatedRefusals:
    """Refusals before a caller is known (issue 9): counted as failed authentications, bounded in the log."""

    def test_oversized_unauthenticated_calls_are_throttled_and_write_at_most_the_limit(self, source, token_key):
        other, _ = source_save(
            slug="hmac",
            name="HMAC tenancy",
            api_base_url=source.api_base_url,
            auth_base_url=source.auth_base_url,
            client_name="c",
            principal_name="p",
            principal_password="pw",
        )
        source_hmac_configure(source=other, encoding="base64")
        source_hmac_secret_set(source=other, secret="s")

        answers = [call(None, url=f"{URL}hmac/", CONTENT_LENGTH="50000000") for _ in range(50)]
        # An authenticated caller's oversized body is its own mistake, not a failed authentication.
        authenticated = call(token_key, CONTENT_LENGTH="50000000")

        codes = [answer.status_code for answer in answers]
        assert codes == [413] * LIMIT + [429] * (50 - LIMIT)
        assert answers[-1].headers["Retry-After"] == "43"
        assert authenticated.status_code == 413
        assert Delivery.objects.filter(token__isnull=True).count() == LIMIT

    def test_ipv6_callers_are_throttled_by_their_64_prefix(self, source):
        for host in range(1, LIMIT + 1):
            assert call("whk_wrong", address=f"2001:db8:1:2::{host:x}").status_code == 401

        assert call("whk_wrong", address="2001:db8:1:2:ffff:1:2:3").status_code == 429
        assert call("whk_wrong", address="2001:db8:1:3::1").status_code == 401

    def test_an_ipv4_mapped_address_counts_as_the_ipv4_address(self, source):
        for _ in range(LIMIT):
            call("whk_wrong", address="::ffff:198.51.100.9")

        assert call("whk_wrong", address="198.51.100.9").status_code == 429

    def test_a_flood_elsewhere_does_not_push_out_the_refused_calls_of_an_hmac_source(self, source, settings):
        settings.WEBHOOK_REFUSAL_LOG_LIMIT = 5
        source_hmac_configure(source=source, signed_material="body", code_location="form")
        source_hmac_secret_set(source=source, secret="hmac-secret")
        # Many addresses (IPv6 /64s) use up the log's bound for strangers ...
        flood = [call("whk_wrong", address=f"2001:db8:{host:x}::1").status_code for host in range(1, 13)]
        # ... then Advance's real calls, refused by a wrong scheme, on the source's own URL.
        refused = [
            call(None, address="198.51.100.50", event_id=f"real-{n}", url=f"{URL}acme/?token=wrongcode").status_code
            for n in range(3)
        ]

        assert flood == [401] * 12 and refused == [401] * 3
        kept = Delivery.objects.filter(source=source, http_status=401).exclude(credentials_encrypted="")
        assert kept.count() == 3

    def test_the_log_keeps_at_most_the_refusal_log_limit_of_unauthenticated_rows_per_window(self, token_key, settings):
        settings.WEBHOOK_REFUSAL_LOG_LIMIT = 5
        settings.WEBHOOK_MAX_BODY_BYTES = 100
        # Many addresses, each under its own limit: only the log's own bound holds the rows down.
        codes = [call("whk_wrong", address=f"198.51.100.{host}").status_code for host in range(1, 13)]
        authenticated = [call(token_key, CONTENT_LENGTH="500").status_code for _ in range(3)]

        assert codes == [401] * 12
        assert Delivery.objects.filter(http_status=401).count() == 5
        # Refusals of a known caller are always logged: the bound is for strangers only.
        assert authenticated == [413] * 3
        assert Delivery.objects.filter(http_status=413, token__isnull=False).count() == 3

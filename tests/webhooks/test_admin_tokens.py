"""Token rotation with a grace period, and tokens about to expire flagged in the list."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import KEY_PATTERN
from webhooks.models import WebhookToken
from webhooks.services import token_authenticate, token_issue, token_revoke, token_rotate

CHANGELIST = "admin:webhooks_webhooktoken_changelist"
pytestmark = pytest.mark.django_db


def rotate(admin_client, tokens, grace: int | None):
    data = {"action": "tokens_rotate", "_selected_action": [token.pk for token in tokens]}
    if grace is not None:
        data.update(confirm="yes", grace=str(grace))
    return admin_client.post(reverse(CHANGELIST), data)


def test_rotate_asks_for_a_grace_period_first_and_changes_nothing(admin_client, source):
    token, key = token_issue(source=source, name="production webhook")

    response = rotate(admin_client, [token], grace=None)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/webhooks/webhooktoken/rotate_confirm.html"
    page = response.content.decode()
    assert 'name="grace"' in page and "production webhook" in page
    assert WebhookToken.objects.count() == 1
    assert token_authenticate(key=key) == token


def test_rotate_shows_the_new_key_once_and_keeps_the_old_one_for_the_grace_period(admin_client, source, frozen_now):
    token, old_key = token_issue(source=source, name="production webhook")

    response = rotate(admin_client, [token], grace=86400)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    keys = set(KEY_PATTERN.findall(response.content.decode()))
    assert len(keys) == 1
    new_key = keys.pop()
    assert new_key != old_key
    new = token_authenticate(key=new_key)
    assert (new.source, new.name, new.expires_at) == (source, "production webhook", None)
    assert token_authenticate(key=old_key) == token  # still valid during the grace period
    token.refresh_from_db()
    assert token.expires_at == frozen_now + timedelta(days=1)
    assert f"Authorization: Bearer {new_key}" in response.content.decode()
    # Shown once: the token pages afterwards never show it.
    for url in (reverse(CHANGELIST), reverse("admin:webhooks_webhooktoken_change", args=[new.pk])):
        assert new_key not in admin_client.get(url).content.decode()


def test_rotate_without_grace_stops_the_old_key_now(admin_client, source):
    token, old_key = token_issue(source=source, name="leaked")

    response = rotate(admin_client, [token], grace=0)

    [new_key] = set(KEY_PATTERN.findall(response.content.decode()))
    assert token_authenticate(key=old_key) is None
    assert token_authenticate(key=new_key).name == "leaked"


def test_rotation_keeps_an_earlier_expiry_and_the_token_lifetime(source, frozen_now):
    created = frozen_now
    token, _ = token_issue(source=source, name="yearly", expires_at=created + timedelta(hours=2))

    new, key = token_rotate(token=token, grace=timedelta(days=7))

    token.refresh_from_db()
    assert token.expires_at == created + timedelta(hours=2)  # sooner than the grace period: unchanged
    lifetime = token.expires_at - token.created_at
    assert (new.created_at, new.expires_at) == (frozen_now, frozen_now + lifetime)
    assert token_authenticate(key=key) == new


def test_revoked_tokens_are_not_rotated(admin_client, source):
    token, _ = token_issue(source=source, name="gone")
    token_revoke(token=token)

    response = rotate(admin_client, [token], grace=3600)

    assert response.status_code == 302
    assert WebhookToken.objects.count() == 1
    with pytest.raises(ValueError):
        token_rotate(token=WebhookToken.objects.get(), grace=timedelta(0))


def test_tokens_expiring_within_14_days_are_flagged_and_filterable(admin_client, source):
    now = timezone.now()
    soon, _ = token_issue(source=source, name="soon", expires_at=now + timedelta(days=3, hours=1))
    later, _ = token_issue(source=source, name="later", expires_at=now + timedelta(days=60))
    never, _ = token_issue(source=source, name="never")

    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    expiring = admin_client.get(reverse(CHANGELIST), {"status": "expiring"})

    assert "expires in 3 days" in page
    assert page.count("expires in") == 1
    assert list(expiring.context["cl"].result_list) == [soon]
    assert {later, never} <= set(admin_client.get(reverse(CHANGELIST), {"status": "active"}).context["cl"].result_list)

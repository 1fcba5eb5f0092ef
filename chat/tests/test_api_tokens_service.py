from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.models import ApiToken
from chat.selectors import api_tokens_for_user
from chat.services.api_tokens import api_token_authenticate, api_token_create, api_token_revoke, api_tokens_revoke
from core.errors import AppError

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob")


def test_token_is_stored_hashed_and_shown_once(alice):
    token, raw = api_token_create(user=alice, name="  my   script ")

    assert raw.startswith("cbt_") and len(raw) > 40
    row = ApiToken.objects.get(pk=token.pk)
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {row.token_hash, row.prefix, row.name}
    assert raw.startswith(row.prefix) and len(row.prefix) < len(raw) // 2
    assert row.name == "my script"
    # No column anywhere in the row holds the secret.
    assert all(raw not in str(value) for value in ApiToken.objects.filter(pk=token.pk).values().first().values())


def test_two_tokens_have_different_secrets(alice):
    _, first = api_token_create(user=alice, name="a")
    _, second = api_token_create(user=alice, name="a")
    assert first != second


def test_authenticate_returns_the_owner_and_records_last_use(alice):
    token, raw = api_token_create(user=alice, name="cli")
    assert token.last_used_at is None

    assert api_token_authenticate(raw) == alice
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(alice):
    token, raw = api_token_create(user=alice, name="cli")
    api_token_authenticate(raw)
    token.refresh_from_db()
    first_use = token.last_used_at

    api_token_authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at == first_use

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api_token_authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at > timezone.now() - timedelta(seconds=30)


@pytest.mark.parametrize(
    "raw",
    ["", "cbt_", "cbt_not-a-real-token", "Bearer cbt_x", "x" * 500, "cbt_" + "a" * 300],
)
def test_unknown_secrets_authenticate_no_one(alice, raw):
    api_token_create(user=alice, name="cli")
    assert api_token_authenticate(raw) is None


def test_revoked_token_and_inactive_user_authenticate_no_one(alice, bob):
    token, raw = api_token_create(user=alice, name="cli")
    _, bob_raw = api_token_create(user=bob, name="cli")

    api_token_revoke(user=alice, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_active
    assert api_token_authenticate(raw) is None

    bob.is_active = False
    bob.save()
    assert api_token_authenticate(bob_raw) is None


def test_revoking_someone_elses_token_is_not_found_and_changes_nothing(alice, bob):
    token, raw = api_token_create(user=alice, name="cli")

    with pytest.raises(AppError, match=r"^token_not_found: Token not found$"):
        api_token_revoke(user=bob, token_id=token.pk)
    with pytest.raises(AppError, match=r"^token_not_found: Token not found$"):
        api_token_revoke(user=bob, token_id=token.pk + 1000)

    assert api_token_authenticate(raw) == alice


def test_revoking_twice_keeps_the_first_time(alice):
    token, _ = api_token_create(user=alice, name="cli")
    api_token_revoke(user=alice, token_id=token.pk)
    token.refresh_from_db()
    first = token.revoked_at
    api_token_revoke(user=alice, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at == first


def test_tokens_for_user_lists_only_theirs_newest_first(alice, bob):
    older, _ = api_token_create(user=alice, name="older")
    newer, _ = api_token_create(user=alice, name="newer")
    api_token_create(user=bob, name="bob's")
    api_token_revoke(user=alice, token_id=older.pk)

    assert list(api_tokens_for_user(alice)) == [newer, older]


def test_revoking_many_revokes_only_the_live_ones(alice, bob):
    live, _ = api_token_create(user=alice, name="live")
    gone, _ = api_token_create(user=bob, name="gone")
    api_token_revoke(user=bob, token_id=gone.pk)
    gone.refresh_from_db()

    assert api_tokens_revoke(tokens=ApiToken.objects.all()) == 1

    live.refresh_from_db()
    assert live.revoked_at is not None
    assert ApiToken.objects.get(pk=gone.pk).revoked_at == gone.revoked_at

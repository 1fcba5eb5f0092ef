"""Bearer tokens and the site's session on the API; GET/POST/DELETE /tokens."""

from __future__ import annotations

import hashlib

import pytest
from asgiref.sync import sync_to_async

from chat.models import ApiToken
from chat.services.api_tokens import api_token_create
from tests.api_client import API, CSRF_SECRET, api_client, asession_cookies, assert_error, auser_with_token

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_bearer_token_authenticates_and_records_its_use() -> None:
    user, raw = await auser_with_token()
    async with api_client(raw) as client:
        response = await client.get(f"{API}/usage")
    assert response.status_code == 200
    token = await ApiToken.objects.aget(user=user)
    assert token.last_used_at is not None


async def test_token_list_shows_no_secret_and_only_mine() -> None:
    _, raw = await auser_with_token("alice")
    await auser_with_token("bob")
    async with api_client(raw) as client:
        response = await client.get(f"{API}/tokens")
    (token,) = response.json()
    assert set(token) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"}
    assert raw.startswith(token["prefix"]) and raw not in response.text
    assert hashlib.sha256(raw.encode()).hexdigest() not in response.text


async def test_revoked_token_stops_working_at_once() -> None:
    alice, raw = await auser_with_token()
    second, second_raw = await sync_to_async(api_token_create)(user=alice, name="second")
    async with api_client(raw) as client:
        revoked = await client.delete(f"{API}/tokens/{second.pk}")
        again = await client.delete(f"{API}/tokens/{second.pk}")
    async with api_client(second_raw) as client:
        refused = await client.get(f"{API}/usage")
    assert (revoked.status_code, again.status_code) == (204, 204)
    assert_error(refused, 401, "unauthorized")


async def test_creating_a_token_needs_the_session_not_a_token() -> None:
    _, raw = await auser_with_token()
    async with api_client(raw) as client:
        response = await client.post(f"{API}/tokens", json={"name": "minted"})
    assert_error(response, 403, "session_required")
    assert await ApiToken.objects.acount() == 1


async def test_the_session_creates_a_token_shown_once_with_csrf() -> None:
    user, _ = await auser_with_token()
    cookies = await asession_cookies(user)
    async with api_client(cookies=cookies) as browser:
        refused = await browser.post(f"{API}/tokens", json={"name": "cli"})
        created = await browser.post(f"{API}/tokens", json={"name": "cli"}, headers={"X-CSRFToken": CSRF_SECRET})
        listed = await browser.get(f"{API}/tokens")  # a safe method needs no CSRF token
    assert_error(refused, 403, "forbidden")
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("cbt_") and secret.startswith(created.json()["prefix"])
    assert secret not in listed.text and len(listed.json()) == 2
    stored = await ApiToken.objects.aget(pk=created.json()["id"])
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    async with api_client(secret) as client:
        assert (await client.get(f"{API}/usage")).status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 101, "bad\x00name"])
async def test_bad_token_names_are_422(name: str) -> None:
    user, _ = await auser_with_token()
    cookies = await asession_cookies(user)
    async with api_client(cookies=cookies, headers={"X-CSRFToken": CSRF_SECRET}) as browser:
        response = await browser.post(f"{API}/tokens", json={"name": name})
    assert_error(response, 422, "invalid_request")

"""Quotas on the API: 429 with Retry-After before anything that may call the LLM; GET /usage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Message, Summary, UsageRecord, UserQuota
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)
PART = f"{API}/videos/BV1xx411c7mD/parts/1"


async def spend(user, tokens: int, *, purpose: str = "chat", count: int = 1) -> None:
    for _ in range(count):
        await UsageRecord.objects.acreate(user=user, purpose=purpose, model="m", prompt_tokens=tokens)


@pytest.mark.parametrize(
    ("method", "path", "body", "stream"),
    [
        ("POST", "/chat", {"question": "糖色？"}, False),
        ("POST", "/chat", {"question": "糖色？"}, True),
        ("POST", "/comments", {"tone": "认真"}, False),
        ("GET", "/summary", None, False),
        ("GET", "/summary", None, True),
    ],
)
async def test_over_the_daily_budget_is_429_with_retry_after(method, path, body, stream) -> None:
    user, token = await auser_with_token()
    await ready_part()
    await UserQuota.objects.acreate(user=user, daily_token_budget=1000)
    await spend(user, 1000)
    async with api_client(token) as client:
        params = {"stream": "true"} if stream else None
        response, events = await sse_request(client, method, PART + path, json=body, params=params)

    error = assert_error(response, 429, "quota_exceeded")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 86400
    assert error["details"] == {"limit": "daily_tokens", "retry_after": retry_after}
    assert events == []
    assert not await Message.objects.aexists() and not await Summary.objects.aexists()


async def test_requests_per_minute_is_429_until_the_oldest_leaves_the_window(settings) -> None:
    settings.QUOTA_REQUESTS_PER_MINUTE = 2
    user, token = await auser_with_token()
    await ready_part()
    await spend(user, 10, count=2)
    await UsageRecord.objects.filter(user=user).aupdate(created_at=timezone.now() - timedelta(seconds=45))
    async with api_client(token) as client:
        limited = await client.post(f"{PART}/chat", json={"question": "糖色？"})
        await UsageRecord.objects.filter(user=user).aupdate(created_at=timezone.now() - timedelta(seconds=61))
        allowed = await client.post(f"{PART}/chat", json={"question": "糖色？"})
    assert assert_error(limited, 429, "quota_exceeded")["details"]["limit"] == "requests_per_minute"
    assert 14 <= int(limited.headers["Retry-After"]) <= 16
    assert allowed.status_code == 200


async def test_a_cached_summary_is_served_over_quota() -> None:
    user, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        made = await client.get(f"{PART}/summary")
        await UserQuota.objects.acreate(user=user, daily_token_budget=10)
        await spend(user, 10)
        cached = await client.get(f"{PART}/summary")
        other_language = await client.get(f"{PART}/summary", params={"language": "en"})
    assert made.status_code == 200 and cached.json() == made.json()
    assert_error(other_language, 429, "quota_exceeded")


async def test_status_and_transcript_need_no_quota() -> None:
    user, token = await auser_with_token()
    await ready_part()
    await UserQuota.objects.acreate(user=user, daily_token_budget=10, requests_per_minute=1)
    await spend(user, 100, count=3)
    async with api_client(token) as client:
        status = await client.get(PART)
        transcript = await client.get(f"{PART}/transcript")
    assert (status.status_code, transcript.status_code) == (200, 200)


async def test_usage_shows_todays_tokens_and_limits(settings) -> None:
    settings.QUOTA_DAILY_TOKENS = 5000
    settings.QUOTA_REQUESTS_PER_MINUTE = 7
    user, token = await auser_with_token()
    other, _ = await auser_with_token("bob")
    await spend(user, 300, purpose="summary_map", count=2)
    await spend(user, 150, purpose="summary_reduce")
    await spend(other, 999)
    async with api_client(token) as client:
        response = await client.get(f"{API}/usage")
    body = response.json()
    assert (body["daily_token_budget"], body["tokens_used_today"], body["tokens_remaining_today"]) == (5000, 750, 4250)
    assert (body["requests_per_minute"], body["requests_last_minute"], body["calls_today"]) == (7, 1, 3)
    assert {row["purpose"]: (row["calls"], row["tokens"]) for row in body["by_purpose"]} == {
        "summary_map": (2, 600),
        "summary_reduce": (1, 150),
    }

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.models import UsageRecord, UserQuota
from chat.quotas import QuotaExceeded, day_bounds, quota_check, quota_limits, usage_summary

pytestmark = pytest.mark.django_db
Purpose = UsageRecord.Purpose


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob")


def record(user, *, purpose=Purpose.CHAT, tokens=100, ago=timedelta(0)) -> UsageRecord:
    row = UsageRecord.objects.create(
        user=user, purpose=purpose, model="m", prompt_tokens=tokens - tokens // 4, completion_tokens=tokens // 4
    )
    if ago:
        UsageRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - ago)
    return row


def test_limits_come_from_settings_unless_overridden(alice, settings):
    settings.QUOTA_DAILY_TOKENS = 5000
    settings.QUOTA_REQUESTS_PER_MINUTE = 7
    assert (quota_limits(alice).daily_tokens, quota_limits(alice).requests_per_minute) == (5000, 7)

    UserQuota.objects.create(user=alice, daily_token_budget=100)
    assert (quota_limits(alice).daily_tokens, quota_limits(alice).requests_per_minute) == (100, 7)


def test_under_the_limits_passes(alice, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    settings.QUOTA_REQUESTS_PER_MINUTE = 3
    record(alice, tokens=899)
    record(alice, tokens=100)
    quota_check(alice)


def test_daily_budget_used_up_until_local_midnight(alice, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    record(alice, tokens=600, purpose=Purpose.SUMMARY_MAP)
    record(alice, tokens=400)

    with pytest.raises(QuotaExceeded) as caught:
        quota_check(alice)

    assert (caught.value.code, caught.value.limit) == ("quota_exceeded", "daily_tokens")
    _, midnight = day_bounds(timezone.now())
    expected = (midnight - timezone.now()).total_seconds()
    assert abs(caught.value.retry_after_seconds - expected) <= 2


def test_yesterdays_tokens_and_other_users_do_not_count(alice, bob, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    day_start, _ = day_bounds(timezone.now())
    old = record(alice, tokens=5000)
    UsageRecord.objects.filter(pk=old.pk).update(created_at=day_start - timedelta(seconds=1))
    record(bob, tokens=5000)
    quota_check(alice)
    assert usage_summary(alice)["tokens_used_today"] == 0


def test_requests_per_minute_with_retry_after_from_the_oldest(alice, settings):
    settings.QUOTA_REQUESTS_PER_MINUTE = 3
    record(alice, purpose=Purpose.SUMMARY, ago=timedelta(seconds=50))
    record(alice, purpose=Purpose.COMMENTS, ago=timedelta(seconds=20))
    record(alice, purpose=Purpose.CHAT)

    with pytest.raises(QuotaExceeded) as caught:
        quota_check(alice)

    assert (caught.value.code, caught.value.limit) == ("quota_exceeded", "requests_per_minute")
    assert 9 <= caught.value.retry_after_seconds <= 11


def test_map_calls_and_older_requests_are_not_requests(alice, settings):
    settings.QUOTA_REQUESTS_PER_MINUTE = 2
    for _ in range(5):
        record(alice, purpose=Purpose.SUMMARY_MAP)
    record(alice, purpose=Purpose.CHAT, ago=timedelta(seconds=61))
    record(alice, purpose=Purpose.SUMMARY_REDUCE)
    quota_check(alice)

    record(alice, purpose=Purpose.CHAT)
    with pytest.raises(QuotaExceeded):
        quota_check(alice)


def test_per_user_override_and_zero_means_unlimited(alice, bob, settings):
    settings.QUOTA_DAILY_TOKENS = 100
    settings.QUOTA_REQUESTS_PER_MINUTE = 1
    UserQuota.objects.create(user=alice, daily_token_budget=0, requests_per_minute=0)
    for who in (alice, bob):
        record(who, tokens=10_000)
        record(who, tokens=10_000)

    quota_check(alice)
    with pytest.raises(QuotaExceeded):
        quota_check(bob)


def test_usage_summary(alice, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    settings.QUOTA_REQUESTS_PER_MINUTE = 5
    record(alice, purpose=Purpose.SUMMARY_MAP, tokens=300)
    record(alice, purpose=Purpose.SUMMARY_REDUCE, tokens=200)
    record(alice, purpose=Purpose.CHAT, tokens=100, ago=timedelta(minutes=5))

    usage = usage_summary(alice)

    assert usage["daily_token_budget"] == 1000
    assert usage["tokens_used_today"] in (600, 500)  # the 5-minute-old row may fall before midnight
    assert usage["tokens_remaining_today"] == 1000 - usage["tokens_used_today"]
    assert usage["requests_per_minute"] == 5
    assert usage["requests_last_minute"] == 1
    assert usage["resets_at"] > timezone.now()
    assert {row["purpose"]: row["tokens"] for row in usage["by_purpose"]}["summary_map"] == 300


def test_day_bounds_follow_the_site_time_zone(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    # 2024-03-01 17:30 UTC is 01:30 on 2024-03-02 in Shanghai.
    start, end = day_bounds(datetime(2024, 3, 1, 17, 30, tzinfo=ZoneInfo("UTC")))
    assert start == datetime(2024, 3, 2, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert end - start == timedelta(days=1)


# --- the websocket: an `error` frame instead of a stream ------------------------------------------


async def socket_for(user):
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from chat.routing import websocket_urlpatterns

    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/videos/BV1xx411c7mD/1/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "progress"
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("frame", "stream"),
    [
        ({"type": "ask", "question": "糖色？"}, "answer"),
        ({"type": "summary"}, "summary"),
        ({"type": "regenerate"}, "summary"),
        ({"type": "comments", "tone": "幽默"}, "comments"),
    ],
)
async def test_websocket_over_quota_sends_an_error_frame(frame, stream, settings) -> None:
    from chat.models import CommentDraftSet, Message, Summary
    from tests.factories import ready_part

    settings.QUOTA_DAILY_TOKENS = 50
    user = await get_user_model().objects.acreate(username="carol")
    await ready_part()
    await UsageRecord.objects.acreate(user=user, purpose=Purpose.CHAT, model="m", prompt_tokens=50)
    communicator = await socket_for(user)
    try:
        await communicator.send_json_to(frame)
        error = await communicator.receive_json_from(timeout=5)
        assert await communicator.receive_nothing(timeout=0.3)
    finally:
        await communicator.disconnect()

    assert error["type"] == "error" and error["code"] == "quota_exceeded" and error["stream"] == stream
    assert error["limit"] == "daily_tokens" and 0 < error["retry_after"] <= 86400
    assert not await Message.objects.aexists() and not await Summary.objects.aexists()
    assert not await CommentDraftSet.objects.aexists()


@pytest.mark.django_db(transaction=True)
async def test_websocket_cached_summary_is_served_over_quota_but_regenerate_is_not(settings) -> None:
    from tests.factories import ready_part

    user = await get_user_model().objects.acreate(username="carol")
    await ready_part()
    communicator = await socket_for(user)
    try:
        await communicator.send_json_to({"type": "summary"})
        while (await communicator.receive_json_from(timeout=10))["type"] != "done":
            pass
        await UserQuota.objects.acreate(user=user, daily_token_budget=1)
        await UsageRecord.objects.acreate(user=user, purpose=Purpose.SUMMARY, model="m", prompt_tokens=5)

        await communicator.send_json_to({"type": "summary"})
        cached = await communicator.receive_json_from(timeout=5)
        while (await communicator.receive_json_from(timeout=10))["type"] != "done":
            pass
        await communicator.send_json_to({"type": "regenerate"})
        refused = await communicator.receive_json_from(timeout=5)
    finally:
        await communicator.disconnect()
    assert cached["type"] == "start" and cached["cached"] is True
    assert refused["type"] == "error" and refused["code"] == "quota_exceeded"

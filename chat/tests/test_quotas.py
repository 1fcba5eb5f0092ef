from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.models import QuotaReservation, UsageRecord, UserQuota
from chat.quotas import day_bounds, quota_check, quota_limits, usage_summary
from chat.services.quotas import quota_release, quota_reserve
from core.errors import AppError

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


def test_under_the_limits_passes_and_one_more_token_or_request_does_not(alice, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    settings.QUOTA_REQUESTS_PER_MINUTE = 3
    record(alice, tokens=899)
    record(alice, tokens=100)
    assert quota_check(alice) is None

    record(alice, tokens=1, purpose=Purpose.SUMMARY_MAP)  # 1000 tokens, still 2 requests
    with pytest.raises(AppError) as over_tokens:
        quota_check(alice)
    settings.QUOTA_DAILY_TOKENS = 0
    assert quota_check(alice) is None
    record(alice, tokens=0)  # a third request
    with pytest.raises(AppError) as over_requests:
        quota_check(alice)
    assert (over_tokens.value.details, over_requests.value.details) == (
        {"limit": "daily_tokens"},
        {"limit": "requests_per_minute"},
    )


def test_daily_budget_used_up_until_local_midnight(alice, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    record(alice, tokens=600, purpose=Purpose.SUMMARY_MAP)
    record(alice, tokens=400)

    with pytest.raises(AppError) as caught:
        quota_check(alice)

    assert (caught.value.code, caught.value.status, caught.value.details) == (
        "quota_exceeded",
        429,
        {"limit": "daily_tokens"},
    )
    assert (caught.value.params["limit_name"], caught.value.params["limit"]) == ("daily_tokens", 1000)
    assert caught.value.message("zh") == "今日的 1000 个 token 额度已用完"
    _, midnight = day_bounds(timezone.now())
    expected = (midnight - timezone.now()).total_seconds()
    assert abs(caught.value.retry_after - expected) <= 2


def test_yesterdays_tokens_and_other_users_do_not_count(alice, bob, settings):
    settings.QUOTA_DAILY_TOKENS = 1000
    day_start, _ = day_bounds(timezone.now())
    old = record(alice, tokens=5000)
    UsageRecord.objects.filter(pk=old.pk).update(created_at=day_start - timedelta(seconds=1))
    record(bob, tokens=5000)
    assert quota_check(alice) is None
    assert usage_summary(alice)["tokens_used_today"] == 0


def test_requests_per_minute_with_retry_after_from_the_oldest(alice, settings):
    settings.QUOTA_REQUESTS_PER_MINUTE = 3
    record(alice, purpose=Purpose.SUMMARY, ago=timedelta(seconds=50))
    record(alice, purpose=Purpose.COMMENTS, ago=timedelta(seconds=20))
    record(alice, purpose=Purpose.CHAT)

    with pytest.raises(AppError) as caught:
        quota_check(alice)

    assert (caught.value.code, caught.value.details) == ("quota_exceeded", {"limit": "requests_per_minute"})
    assert caught.value.message("en") == "Too many requests: at most 3 per minute"
    assert caught.value.message("zh") == "请求过于频繁：每分钟最多 3 次"
    assert 9 <= caught.value.retry_after <= 11


def test_map_calls_and_older_requests_are_not_requests(alice, settings):
    settings.QUOTA_REQUESTS_PER_MINUTE = 2
    for _ in range(5):
        record(alice, purpose=Purpose.SUMMARY_MAP)
    record(alice, purpose=Purpose.CHAT, ago=timedelta(seconds=61))
    record(alice, purpose=Purpose.SUMMARY_REDUCE)
    assert quota_check(alice) is None

    record(alice, purpose=Purpose.CHAT)
    with pytest.raises(AppError, match="quota_exceeded"):
        quota_check(alice)


def test_per_user_override_and_zero_means_unlimited(alice, bob, settings):
    settings.QUOTA_DAILY_TOKENS = 100
    settings.QUOTA_REQUESTS_PER_MINUTE = 1
    UserQuota.objects.create(user=alice, daily_token_budget=0, requests_per_minute=0)
    for who in (alice, bob):
        record(who, tokens=10_000)
        record(who, tokens=10_000)

    assert quota_check(alice) is None
    with pytest.raises(AppError, match="quota_exceeded"):
        quota_check(bob)


def zone_away_from_midnight() -> str:
    """A time zone where it is now between 01:00 and 22:59, so minutes ago are still today."""
    for zone in ("UTC", "Asia/Shanghai"):
        if 1 <= timezone.now().astimezone(ZoneInfo(zone)).hour <= 22:
            return zone
    raise AssertionError("one of the two is always away from midnight")


def test_usage_summary(alice, settings):
    settings.TIME_ZONE = zone_away_from_midnight()
    settings.QUOTA_DAILY_TOKENS = 1000
    settings.QUOTA_REQUESTS_PER_MINUTE = 5
    record(alice, purpose=Purpose.SUMMARY_MAP, tokens=300)
    record(alice, purpose=Purpose.SUMMARY_REDUCE, tokens=200)
    record(alice, purpose=Purpose.CHAT, tokens=100, ago=timedelta(minutes=5))

    usage = usage_summary(alice)

    assert usage["daily_token_budget"] == 1000
    assert (usage["tokens_used_today"], usage["tokens_remaining_today"]) == (600, 400)
    assert usage["requests_per_minute"] == 5
    assert usage["requests_last_minute"] == 1
    assert usage["resets_at"] > timezone.now()
    assert {row["purpose"]: row["tokens"] for row in usage["by_purpose"]} == {
        "chat": 100,
        "summary_map": 300,
        "summary_reduce": 200,
    }


def test_day_bounds_follow_the_site_time_zone(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    # 2024-03-01 17:30 UTC is 01:30 on 2024-03-02 in Shanghai.
    start, end = day_bounds(datetime(2024, 3, 1, 17, 30, tzinfo=ZoneInfo("UTC")))
    assert start == datetime(2024, 3, 2, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert end - start == timedelta(days=1)


# --- reservations: a request counts from the moment the gate admits it --------------------------


def test_a_reservation_counts_as_a_request_until_released(alice, settings):
    settings.QUOTA_REQUESTS_PER_MINUTE = 2
    first = quota_reserve(user=alice, purpose=Purpose.CHAT)
    quota_reserve(user=alice, purpose=Purpose.SUMMARY)
    with pytest.raises(AppError, match="quota_exceeded"):
        quota_reserve(user=alice, purpose=Purpose.CHAT)
    assert usage_summary(alice)["requests_last_minute"] == 2

    quota_release(reservation_id=first)
    assert quota_check(alice) is None
    assert QuotaReservation.objects.filter(user=alice).count() == 1


def outcome(call) -> dict | None:
    try:
        call()
    except AppError as exc:
        return exc.details
    return None


@pytest.mark.parametrize(
    ("tokens", "requests", "override", "refused"),
    [
        (999, 2, None, None),
        (1000, 1, None, {"limit": "daily_tokens"}),
        (10, 3, None, {"limit": "requests_per_minute"}),
        (5000, 5, 0, None),  # the user's override 0: unlimited
    ],
)
def test_reserving_refuses_exactly_where_the_check_does(alice, settings, tokens, requests, override, refused):
    settings.QUOTA_DAILY_TOKENS = 1000
    settings.QUOTA_REQUESTS_PER_MINUTE = 3
    if override is not None:
        UserQuota.objects.create(user=alice, daily_token_budget=override, requests_per_minute=override)
    record(alice, tokens=tokens)
    for _ in range(requests - 1):
        record(alice, tokens=0)

    checked = outcome(lambda: quota_check(alice))
    reserved = outcome(lambda: quota_reserve(user=alice, purpose=Purpose.CHAT))

    assert (checked, reserved) == (refused, refused)
    assert QuotaReservation.objects.filter(user=alice).count() == (0 if refused else 1)


def test_a_reservation_older_than_the_window_no_longer_counts(alice, settings):
    settings.QUOTA_REQUESTS_PER_MINUTE = 1
    crashed = quota_reserve(user=alice, purpose=Purpose.CHAT)
    QuotaReservation.objects.filter(pk=crashed).update(created_at=timezone.now() - timedelta(seconds=61))

    kept = quota_reserve(user=alice, purpose=Purpose.CHAT)

    assert list(QuotaReservation.objects.order_by("pk").values_list("pk", flat=True)) == [crashed, kept]


def test_a_release_deletes_reservations_older_than_the_window(alice, settings):
    crashed = quota_reserve(user=alice, purpose=Purpose.CHAT)
    QuotaReservation.objects.filter(pk=crashed).update(created_at=timezone.now() - timedelta(seconds=61))
    running = quota_reserve(user=alice, purpose=Purpose.CHAT)
    finished = quota_reserve(user=alice, purpose=Purpose.CHAT)

    quota_release(reservation_id=finished)

    assert list(QuotaReservation.objects.values_list("pk", flat=True)) == [running]


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_asks_admits_exactly_the_per_minute_limit(llm, settings) -> None:
    import asyncio

    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.db import connections

    from chat.gate import AnswerOrder, GateStream, generation_open
    from tests.factories import ready_part

    settings.QUOTA_REQUESTS_PER_MINUTE = 3
    user = await get_user_model().objects.acreate(username="carol")
    await ready_part()

    async def ask() -> GateStream | AppError:
        async with ThreadSensitiveContext():  # its own thread and database connection, as a request has
            try:
                return await generation_open(user=user, bvid="BV1xx411c7mD", page=1, order=AnswerOrder("糖色？"))
            except AppError as exc:
                return exc
            finally:
                await sync_to_async(connections.close_all)()

    results = await asyncio.gather(*(ask() for _ in range(8)))
    admitted = [result for result in results if isinstance(result, GateStream)]
    refused = [result.code for result in results if isinstance(result, AppError)]
    reserved = await QuotaReservation.objects.filter(user=user).acount()
    for stream in admitted:
        await stream.aclose()  # closing a stream never read releases its reservation

    assert (len(admitted), refused, reserved) == (3, ["quota_exceeded"] * 5, 3)
    assert await QuotaReservation.objects.acount() == 0
    assert llm.answered("/v1/chat/completions") == []


@pytest.mark.django_db(transaction=True)
async def test_a_finished_answer_leaves_its_usage_and_no_reservation(llm) -> None:
    from chat.gate import AnswerOrder, generation_open
    from tests.factories import ready_part

    user = await get_user_model().objects.acreate(username="carol")
    await ready_part()
    events = await generation_open(user=user, bvid="BV1xx411c7mD", page=1, order=AnswerOrder("糖色？"))
    assert await QuotaReservation.objects.filter(user=user).acount() == 1
    kinds = [event["type"] async for event in events]

    assert (kinds[0], kinds[-1]) == ("start", "done")
    assert await QuotaReservation.objects.acount() == 0
    assert await UsageRecord.objects.filter(user=user, purpose=Purpose.CHAT).acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_an_answer_closed_after_its_start_is_interrupted_and_releases_its_reservation(llm) -> None:
    from chat.gate import AnswerOrder, generation_open
    from chat.models import Message
    from tests.factories import ready_part

    user = await get_user_model().objects.acreate(username="carol")
    await ready_part()
    events = await generation_open(user=user, bvid="BV1xx411c7mD", page=1, order=AnswerOrder("糖色？"))
    start = await anext(events)

    await events.aclose()

    answer = await Message.objects.aget(pk=start["message_id"])
    assert (answer.status, answer.error_code) == (Message.Status.INTERRUPTED, "client_disconnected")
    assert await QuotaReservation.objects.acount() == 0


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

    assert (error["type"], error["code"], error["stream"], error["limit"]) == (
        "error",
        "quota_exceeded",
        stream,
        "daily_tokens",
    )
    assert 0 < error["retry_after"] <= 86400
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
    assert (cached["type"], cached["cached"]) == ("start", True)
    assert (refused["type"], refused["code"], refused["stream"]) == ("error", "quota_exceeded", "summary")

"""The one generation gate: every entry point gives the same bad input the same code."""

from __future__ import annotations

import asyncio

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError

from chat.gate import AnswerOrder, CommentsOrder, SummaryOrder, generation_open
from chat.models import Conversation, QuotaReservation, Summary
from chat.routing import websocket_urlpatterns
from core.errors import AppError
from tests.api_client import API, api_client, assert_error, auser_with_token
from tests.commands import run_command
from tests.factories import ready_part
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)
BVID = "BV1xx411c7mD"


def summarize(*args: str) -> str:
    return run_command("summarize", *args)


async def socket_error(user: object, frame: dict) -> dict:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/videos/{BVID}/1/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["type"] == "progress"
    await communicator.send_json_to(frame)
    reply = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    return reply


async def test_a_part_still_ingesting_is_part_not_ready_on_every_entry_point() -> None:
    user, token = await auser_with_token()
    part = await ready_part()
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage=VideoPart.Stage.EMBEDDINGS, progress_percent=70)

    async with api_client(token) as client:
        chat = await client.post(f"{API}/videos/{BVID}/parts/1/chat", json={"question": "糖色？"})
        comments = await client.post(f"{API}/videos/{BVID}/parts/1/comments", json={}, params={"stream": "true"})
    frames = [await socket_error(user, frame) for frame in ({"type": "ask", "question": "糖色？"}, {"type": "summary"})]
    with pytest.raises(CommandError) as cli:
        await asyncio.to_thread(summarize, BVID)
    gate = []
    for order in (AnswerOrder("糖色？"), SummaryOrder("zh"), CommentsOrder("认真")):
        with pytest.raises(AppError) as refused:
            await generation_open(user=user, bvid=BVID, page=1, order=order)
        gate.append((refused.value.code, refused.value.status, refused.value.details))

    expected_details = {"stage": "embeddings", "percent": 70}
    assert assert_error(chat, 409, "part_not_ready")["details"] == expected_details
    assert assert_error(comments, 409, "part_not_ready")["details"] == expected_details
    assert [(frame["code"], frame["stage"], frame["percent"]) for frame in frames] == [
        ("part_not_ready", "embeddings", 70)
    ] * 2
    assert str(cli.value).startswith("part_not_ready: ")
    assert gate == [("part_not_ready", 409, expected_details)] * 3
    assert not await Conversation.objects.aexists() and not await Summary.objects.aexists()


async def test_a_missing_part_is_part_not_found_on_every_entry_point() -> None:
    user, token = await auser_with_token()
    await ready_part()

    async with api_client(token) as client:
        chat = await client.post(f"{API}/videos/{BVID}/parts/7/chat", json={"question": "糖色？"})
        summary = await client.get(f"{API}/videos/{BVID}/parts/7/summary")
    with pytest.raises(CommandError) as cli:
        await asyncio.to_thread(summarize, f"https://www.bilibili.com/video/{BVID}?p=7")
    with pytest.raises(AppError) as gate:
        await generation_open(user=user, bvid=BVID, page=7, order=AnswerOrder("糖色？"))

    assert_error(chat, 404, "part_not_found")
    assert_error(summary, 404, "part_not_found")
    assert str(cli.value).startswith("part_not_found: ")
    assert (gate.value.code, gate.value.status) == ("part_not_found", 404)


async def test_a_cached_summary_and_the_cli_reserve_nothing(llm) -> None:
    user, _ = await auser_with_token()
    await ready_part()
    made = [event async for event in await generation_open(user=None, bvid=BVID, page=1, order=SummaryOrder("zh"))]

    cached = await generation_open(user=user, bvid=BVID, page=1, order=SummaryOrder("zh"))
    reserved_while_cached = await QuotaReservation.objects.acount()
    events = [event async for event in cached]
    regenerate = await generation_open(user=user, bvid=BVID, page=1, order=SummaryOrder("zh", regenerate=True))
    reserved_while_regenerating = await QuotaReservation.objects.acount()
    await regenerate.aclose()

    assert (made[0]["cached"], made[-1]["type"]) == (False, "done")
    assert (events[0]["cached"], events[-1]["type"]) == (True, "done")
    assert (reserved_while_cached, reserved_while_regenerating) == (0, 1)
    assert await QuotaReservation.objects.acount() == 0

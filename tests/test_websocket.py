"""The video part websocket: auth, origin, progress, the summary and chat streams, cancellation.

Close codes over a real daphne are in tests/test_websocket_daphne.py."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, User

from chat.models import Conversation, Message, QuotaReservation, Summary, UsageRecord
from chat.routing import websocket_urlpatterns
from chatbili_site.asgi import application
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from videos.models import Video, VideoPart
from videos.progress import progress_publish

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)


async def open_socket(user: Any, path: str = "/ws/videos/BV1xx411c7mD/1/") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    return communicator


async def ready_socket(user: Any) -> WebsocketCommunicator:
    """A signed-in socket on the part, past its first progress frame."""
    communicator = await open_socket(user)
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["type"] == "progress"
    return communicator


async def receive_until(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> list[dict]:
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == kind or frame["type"] == "error":
            return frames


async def test_anonymous_users_are_accepted_then_closed_with_4401() -> None:
    await ready_part()
    communicator = await open_socket(AnonymousUser())
    assert await communicator.connect() == (True, None)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401, "reason": "not signed in"}


async def test_a_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/videos/BV1xx411c7mD/1/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_an_unknown_part_is_accepted_then_closed_with_4404() -> None:
    user = await User.objects.acreate(username="alice")
    communicator = await open_socket(user, "/ws/videos/BV1xx411c7mD/9/")
    assert await communicator.connect() == (True, None)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4404, "reason": "no such part"}


async def test_ask_streams_tokens_citations_and_done_offline() -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = await open_socket(user)
    assert (await communicator.connect())[0]
    first = await communicator.receive_json_from()
    assert first["type"] == "progress" and first["stage"] == "ready"
    await communicator.send_json_to({"type": "ask", "question": "糖色怎么炒？"})
    frames = await receive_until(communicator, "done")
    kinds = [frame["type"] for frame in frames]
    assert (kinds[0], set(kinds[1:-2]), kinds[-2:]) == ("start", {"token"}, ["citations", "done"]), kinds
    assert all(frame["stream"] == "answer" for frame in frames)
    assert frames[-1]["offline"] is True
    await communicator.disconnect()


async def test_summary_streams_on_the_same_socket(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "## 摘要\n做红烧肉。\n\n## 要点\n- 🥩 [00:00] 选五花肉"
    communicator = await open_socket(user)
    await communicator.connect()
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "summary", "language": "zh"})
    frames = await receive_until(communicator, "done")
    assert frames[-1]["type"] == "done", frames[-1]
    assert all(frame["stream"] == "summary" for frame in frames)
    assert "红烧肉" in "".join(frame.get("text", "") for frame in frames if frame["type"] == "token")
    await communicator.disconnect()


async def test_a_summary_started_on_a_socket_is_finished_and_saved_after_the_socket_closes(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "## 摘要\n做红烧肉。\n\n## 要点\n- 🥩 [00:00] 选五花肉\n"
    llm.token_delay = 0.02
    communicator = await ready_socket(user)
    await communicator.send_json_to({"type": "summary", "language": "zh"})
    await receive_until(communicator, "token")
    await communicator.disconnect()  # the generation it started goes on without it

    for _ in range(250):
        summary = await Summary.objects.aget()
        if summary.status != Summary.Status.GENERATING:
            break
        await asyncio.sleep(0.02)
    assert (summary.status, summary.content) == (Summary.Status.COMPLETE, llm.reply)


async def test_another_users_conversation_is_refused() -> None:
    owner = await User.objects.acreate(username="owner")
    intruder = await User.objects.acreate(username="intruder")
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=owner, part=part)
    communicator = await open_socket(intruder)
    await communicator.connect()
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "ask", "question": "看看", "conversation_id": conversation.pk})
    frame = await communicator.receive_json_from(timeout=10)
    assert (frame["type"], frame["code"]) == ("error", "conversation_not_found")
    assert await Message.objects.filter(conversation=conversation).acount() == 0
    await communicator.disconnect()


async def connected_socket(user: Any, **scope: Any) -> WebsocketCommunicator:
    """A socket on the ready part, past its first progress frame."""
    communicator = await open_socket(user)
    communicator.scope.update(scope)
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["type"] == "progress"
    return communicator


@pytest.mark.parametrize(
    ("frame", "code", "stream"),
    [
        ({"type": "nope"}, "bad_request", None),
        ("not an object", "bad_request", None),
        ({"type": "ask", "question": ""}, "invalid_request", "answer"),
        ({"type": "ask", "question": "x" * 2001}, "invalid_request", "answer"),
        ({"type": "ask", "question": "好吃吗", "conversation_id": "twelve"}, "invalid_request", "answer"),
        ({"type": "summary", "language": "fr"}, "invalid_request", "summary"),
        ({"type": "comments", "tone": "x" * 21}, "invalid_request", "comments"),
    ],
)
async def test_bad_frames_get_the_apis_error_code(frame: Any, code: str, stream: str | None) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = await connected_socket(user)
    await communicator.send_json_to(frame)
    reply = await communicator.receive_json_from()
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()
    assert (reply["type"], reply["code"], reply["stream"]) == ("error", code, stream)
    assert await Message.objects.acount() == 0


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({}, "请求无效：type='nope'"),
        ({"cookies": {"django_language": "en"}}, "Bad request: type='nope'"),
        ({"headers": [(b"accept-language", b"en-US,en;q=0.9")]}, "Bad request: type='nope'"),
        ({"headers": [(b"accept-language", b"fr-FR,zh-CN;q=0.8")]}, "请求无效：type='nope'"),
    ],
)
async def test_error_frames_are_in_the_sockets_language(scope: dict, message: str) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = await connected_socket(user, **scope)
    await communicator.send_json_to({"type": "nope"})
    reply = await communicator.receive_json_from()
    await communicator.disconnect()
    assert reply == {"type": "error", "stream": None, "code": "bad_request", "message": message}


async def test_a_part_not_ready_refuses_every_stream_with_part_not_ready() -> None:
    user = await User.objects.acreate(username="alice")
    video = await Video.objects.acreate(bvid="BV1xx411c7mD", aid=2, title="t")
    await VideoPart.objects.acreate(video=video, page=1, cid=5, stage=VideoPart.Stage.TRANSCRIPT)
    communicator = await connected_socket(user)
    replies = []
    for frame in ({"type": "ask", "question": "好吃吗"}, {"type": "summary"}, {"type": "comments"}):
        await communicator.send_json_to(frame)
        replies.append(await communicator.receive_json_from())
    await communicator.disconnect()
    assert [(reply["type"], reply["code"], reply["stream"]) for reply in replies] == [
        ("error", "part_not_ready", "answer"),
        ("error", "part_not_ready", "summary"),
        ("error", "part_not_ready", "comments"),
    ]


async def test_cancel_with_nothing_running_is_acknowledged_with_stream_null() -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "cancel"})
    reply = await communicator.receive_json_from()
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()
    assert reply == {"type": "cancelled", "stream": None}


async def test_cancel_stops_the_answer_and_is_acknowledged_after_its_last_frame(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "焯水之后炒糖色。" * 60
    llm.token_delay = 0.05
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "步骤？"})
    start = await communicator.receive_json_from(timeout=10)
    assert (start["type"], (await communicator.receive_json_from(timeout=10))["type"]) == ("start", "token")
    await communicator.send_json_to({"type": "cancel"})
    frames = [await communicator.receive_json_from(timeout=10)]
    while frames[-1]["type"] != "cancelled":
        frames.append(await communicator.receive_json_from(timeout=10))
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.send_json_to(
        {"type": "ask", "question": "再问一次？", "conversation_id": start["conversation_id"]}
    )
    again = await communicator.receive_json_from(timeout=10)
    await communicator.disconnect()

    assert frames[-1] == {"type": "cancelled", "stream": "answer"}
    assert {frame["type"] for frame in frames[:-1]} <= {"token"}
    message = await Message.objects.aget(pk=start["message_id"])
    assert message.status == Message.Status.INTERRUPTED
    assert (again["type"], again["stream"]) == ("start", "answer")


async def test_a_second_ask_while_one_runs_is_busy(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "焯水之后炒糖色。" * 60
    llm.token_delay = 0.05
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "步骤？"})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "start"
    await communicator.send_json_to({"type": "ask", "question": "还有呢？"})
    frame = await communicator.receive_json_from(timeout=10)
    while frame["type"] == "token":
        frame = await communicator.receive_json_from(timeout=10)
    await communicator.disconnect()
    assert (frame["type"], frame["code"], frame["stream"]) == ("error", "busy", "answer")


async def test_disconnect_cancels_the_llm_stream_and_saves_the_partial_answer(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "焯水之后炒糖色。" * 60
    llm.token_delay = 0.05
    communicator = await open_socket(user)
    await communicator.connect()
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "ask", "question": "步骤？"})
    start = await communicator.receive_json_from(timeout=10)
    assert start["type"] == "start"
    for _ in range(3):
        assert (await communicator.receive_json_from(timeout=10))["type"] == "token"
    await communicator.disconnect()

    message = await Message.objects.aget(pk=start["message_id"])
    for _ in range(100):
        if message.status != Message.Status.STREAMING and llm.in_flight == 0:
            break
        await asyncio.sleep(0.05)
        await message.arefresh_from_db()
    assert message.status == Message.Status.INTERRUPTED
    assert message.content and message.content in llm.reply
    assert llm.in_flight == 0, "the LLM stream was closed"
    assert llm.completed_streams == 0, "the LLM stream was not read to its end"


async def test_an_llm_failure_mid_stream_is_an_error_frame(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "一个会在中途断掉的回答，后面还有很多字。"
    llm.disconnect_after_tokens = 2
    communicator = await ready_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "会断吗？"})
    frames = await receive_until(communicator, "done")
    assert frames[-1]["type"] == "error"
    message = await Message.objects.aget(pk=frames[0]["message_id"])
    assert message.status == Message.Status.INTERRUPTED and message.content
    await communicator.disconnect()


async def test_progress_reaches_the_page_from_the_group_and_the_row() -> None:
    user = await User.objects.acreate(username="alice")
    video = await Video.objects.acreate(bvid="BV1xx411c7mD", aid=2, title="t")
    part = await VideoPart.objects.acreate(video=video, page=1, cid=5, stage=VideoPart.Stage.TRANSCRIPT)
    communicator = await open_socket(user)
    await communicator.connect()
    assert (await communicator.receive_json_from())["stage"] == "transcript"
    # A worker in this process publishes on the group.
    await progress_publish({"bvid": video.bvid, "page": 1, "stage": "chunks", "percent": 45, "error": ""})
    frame = await communicator.receive_json_from(timeout=5)
    assert (frame["type"], frame["stage"], frame["percent"]) == ("progress", "chunks", 45)
    # A worker in another process only writes the row: the consumer follows it.
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage=VideoPart.Stage.READY, progress_percent=100)
    frame = await communicator.receive_json_from(timeout=5)
    assert (frame["stage"], frame["percent"]) == ("ready", 100)
    await communicator.disconnect()


async def test_token_frames_are_compact_utf8_json() -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "糖色怎么炒？"})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "start"
    raw = await communicator.receive_from(timeout=10)
    await communicator.disconnect()

    assert raw.startswith('{"type":"token","text":"') and raw.endswith('","stream":"answer"}'), raw
    assert "\\u" not in raw and "离线" in raw  # the offline answer's header, as UTF-8


async def test_an_answer_is_charged_once_and_leaves_no_reservation(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "糖色怎么炒？"})
    frames = await receive_until(communicator, "done")
    await communicator.disconnect()

    assert frames[-1]["type"] == "done"
    assert [record.purpose async for record in UsageRecord.objects.filter(user=user)] == ["chat"]
    assert await QuotaReservation.objects.acount() == 0


@pytest.fixture
def long_token_window(settings: Any) -> None:
    """Token frames coalesced over a window longer than any test: held until something flushes them."""
    settings.TOKEN_FRAME_WINDOW_MS = 10_000


@pytest.mark.usefixtures("long_token_window")
async def test_tokens_within_the_window_share_one_frame_sent_before_the_next_event(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "焯水之后炒糖色。"
    llm.token_delay = 0.01
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "步骤？"})
    frames = await receive_until(communicator, "done")
    await communicator.disconnect()

    kinds = [frame["type"] for frame in frames]
    assert kinds == ["start", "token", "token", "citations", "done"], kinds
    assert frames[1]["text"] + frames[2]["text"] == llm.reply
    assert set(frames[2]) == {"type", "text", "stream"}


@pytest.mark.usefixtures("long_token_window")
async def test_held_tokens_are_sent_before_the_cancel_acknowledgement(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    llm.reply = "焯水之后炒糖色。" * 60
    llm.token_delay = 0.02
    communicator = await connected_socket(user)
    await communicator.send_json_to({"type": "ask", "question": "步骤？"})
    start = await communicator.receive_json_from(timeout=10)
    first = await communicator.receive_json_from(timeout=10)
    await asyncio.sleep(0.2)  # tokens arrive and are held
    await communicator.send_json_to({"type": "cancel"})
    held = await communicator.receive_json_from(timeout=10)
    acknowledged = await communicator.receive_json_from(timeout=10)
    await communicator.disconnect()

    assert (first["type"], held["type"], acknowledged) == ("token", "token", {"type": "cancelled", "stream": "answer"})
    message = await Message.objects.aget(pk=start["message_id"])
    assert message.content == first["text"] + held["text"]


async def test_sockets_run_their_database_calls_on_a_few_shared_threads(settings: Any) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    sockets = [await open_socket(user) for _ in range(settings.DATABASE_LANES + 4)]
    for communicator in sockets:
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from())["type"] == "progress"  # after the part was read

    lanes = {thread.name for thread in threading.enumerate() if thread.name.startswith("db-lane-")}

    assert len(lanes) == settings.DATABASE_LANES == 8
    for communicator in sockets:
        await communicator.disconnect()

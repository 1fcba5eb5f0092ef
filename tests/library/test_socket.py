"""The library websocket (ws/library/, ws/collections/<id>/): the video socket's frames, cancel,
and ownership (4401 signed out, 4404 someone else's collection)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, User

from chat.models import Message
from chat.routing import websocket_urlpatterns
from tests.fakes.openai import FakeOpenAI
from tests.library.helpers import PORK, WINGS, acollection_of, aown, cite_two_videos, two_videos

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)
LLM_REPLY = cite_two_videos


async def connected(user: Any, path: str = "/ws/library/") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    assert await communicator.connect() == (True, None)
    return communicator


async def frames_until(communicator: WebsocketCommunicator, kind: str) -> list[dict]:
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        frames.append(frame)
        if frame["type"] in (kind, "error"):
            return frames


async def test_signed_out_sockets_are_closed_with_4401() -> None:
    communicator = await connected(AnonymousUser())
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "not signed in",
    }


async def test_someone_elses_collection_socket_is_closed_with_4404() -> None:
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    pork, wings = await two_videos()
    collection = await acollection_of(alice, pork, wings)
    communicator = await connected(bob, f"/ws/collections/{collection.pk}/")
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 4404,
        "reason": "no such collection",
    }


async def test_a_question_on_the_library_socket_streams_an_answer_citing_two_videos(llm: FakeOpenAI) -> None:
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    communicator = await connected(alice)
    ready = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "ask", "question": "两道菜的糖色怎么炒？"})
    frames = await frames_until(communicator, "done")
    await communicator.disconnect()

    assert ready == {"type": "ready", "scope": "library", "collection_id": None}
    assert [frame["stream"] for frame in frames] == ["answer"] * len(frames)
    assert frames[0]["type"] == "start" and frames[-1]["type"] == "done"
    citations = next(frame for frame in frames if frame["type"] == "citations")["citations"]
    assert {citation["bvid"] for citation in citations} == {PORK, WINGS}


async def test_a_series_summary_is_refused_on_the_library_socket() -> None:
    alice = await User.objects.acreate(username="alice")
    communicator = await connected(alice)
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "summary"})
    frame = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert (frame["type"], frame["code"], frame["stream"]) == ("error", "bad_request", None)


async def test_cancel_stops_the_answer_and_saves_it_interrupted(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.2
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    communicator = await connected(alice)
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "ask", "question": "糖色怎么炒？"})
    await frames_until(communicator, "token")
    await communicator.send_json_to({"type": "cancel"})
    frames = await frames_until(communicator, "cancelled")
    await communicator.disconnect()

    assert frames[-1] == {"type": "cancelled", "stream": "answer"}
    answer = await Message.objects.aget(role="assistant")
    assert (answer.status, answer.error_code) == ("interrupted", "client_disconnected")

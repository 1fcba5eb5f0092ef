"""One chat over a real daphne process, with the `websockets` client and a session cookie."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import websockets
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from chat.models import Message
from tests.api_client import daphne_server
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def daphne_url() -> Iterator[str]:
    with daphne_server() as url:
        yield url.removeprefix("http://")


async def chat_once(url: str, cookie: str, question: str) -> list[dict]:
    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://{url}"}
    async with websockets.connect(f"ws://{url}/ws/videos/BV1xx411c7mD/1/", additional_headers=headers) as socket_:
        frames = [json.loads(await socket_.recv())]
        await socket_.send(json.dumps({"type": "ask", "question": question}))
        while frames[-1]["type"] not in ("done", "error"):
            frames.append(json.loads(await socket_.recv()))
    return frames


def test_chat_over_a_real_daphne(daphne_url: str) -> None:
    async_to_sync(ready_part)()
    user = User.objects.create_user("alice", password="a-long-pass-phrase-9")
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value

    frames = async_to_sync(chat_once)(daphne_url, cookie, "小火慢炖要多久？")

    assert frames[0]["type"] == "progress" and frames[0]["stage"] == "ready"
    kinds = [frame["type"] for frame in frames]
    assert kinds[1] == "start" and "token" in kinds and kinds[-1] == "done", kinds
    answer = "".join(frame["text"] for frame in frames if frame["type"] == "token")
    assert "小火慢炖" in answer
    assert Message.objects.get(pk=frames[-1]["message_id"]).content == answer


async def close_of(url: str, path: str, cookie: str | None = None) -> tuple[int, list[dict]]:
    """Open a socket and read until the server closes it: the close code and the frames before.

    (daphne sends the code without the consumer's reason.)"""
    headers = {"Origin": f"http://{url}", **({"Cookie": f"sessionid={cookie}"} if cookie else {})}
    frames = []
    async with websockets.connect(f"ws://{url}{path}", additional_headers=headers) as socket_:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(await socket_.recv()))
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, frames


def test_close_codes_reach_a_real_client(daphne_url: str) -> None:
    async_to_sync(ready_part)()
    user = User.objects.create_user("alice")
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    part = "/ws/videos/BV1xx411c7mD/1/"

    anonymous = async_to_sync(close_of)(daphne_url, part)
    expired = async_to_sync(close_of)(daphne_url, part, cookie="a-session-that-expired")
    missing = async_to_sync(close_of)(daphne_url, "/ws/videos/BV1xx411c7mD/9/", cookie=cookie)

    assert (anonymous, expired, missing) == ((4401, []), (4401, []), (4404, []))

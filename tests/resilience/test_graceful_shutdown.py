"""SIGTERM to a server process: it stops accepting, lets a stream run for the grace period, then
saves what the answer had as interrupted (never as complete) and exits; runsite starts another."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
import websockets
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User

from chat.models import Message
from tests.api_client import session_cookies
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from tests.resilience.site import fakes_env, supervised_site, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BVID = "BV1xx411c7mD"
LLM_REPLY = "先把五花肉切块焯水，再炒糖色，最后小火炖一个小时。" * 4


async def ask_until_closed(url: str, cookie: str, server_pid: int) -> str:
    """Ask, SIGTERM the server at the first token, and return the text streamed until the socket closed."""
    address = f"ws://{url.removeprefix('http://')}/ws/videos/{BVID}/1/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": url}
    streamed = ""
    async with websockets.connect(address, additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "ask", "question": "红烧肉怎么做？"}))
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 60))
                if frame["type"] == "token":
                    if not streamed:
                        os.kill(server_pid, signal.SIGTERM)
                    streamed += frame["text"]
        except websockets.ConnectionClosed:
            return streamed


def test_sigterm_lets_the_stream_run_for_the_grace_period_then_saves_it_interrupted(
    tmp_path: Path, llm: FakeOpenAI
) -> None:
    llm.token_delay = 0.3  # about 15 s for the whole reply: longer than the grace period
    async_to_sync(ready_part)(bvid=BVID)
    cookie = session_cookies(User.objects.create_user("alice"))["sessionid"]
    with supervised_site(tmp_path, SHUTDOWN_GRACE_SECONDS="2", **fakes_env()) as site:
        server = site.component("server-1")["pid"]
        streamed = async_to_sync(ask_until_closed)(site.url, cookie, server)
        wait_for(lambda: site.component("server-1")["pid"] != server, timeout=60)
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.INTERRUPTED
    assert len(streamed) > 1  # the stream went on after SIGTERM, for the grace period
    assert answer.content[: len(streamed)] == streamed
    assert answer.content != LLM_REPLY

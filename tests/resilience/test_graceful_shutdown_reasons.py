"""SIGTERM to a server process: what it cuts off after the grace period is saved as interrupted with
code server_restarted (not client_disconnected), a summary included, at once rather than after the
stale-row sweep."""

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

from chat.models import Message, Summary
from tests.api_client import session_cookies
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from tests.resilience.site import fakes_env, supervised_site, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BVID = "BV1xx411c7mD"
LLM_REPLY = "先把五花肉切块焯水，再炒糖色，最后小火炖一个小时。" * 4
# the stale-row sweep would mark a dead generation server_restarted too, a minute later: kept out
SITE_ENV = {"SHUTDOWN_GRACE_SECONDS": "2", "SUMMARY_STALE_SECONDS": "600"}


async def stream_until_closed(url: str, cookie: str, server_pid: int, frame: dict) -> str:
    """Send `frame`, SIGTERM the server at the first token, and return the text streamed until the socket closed."""
    address = f"ws://{url.removeprefix('http://')}/ws/videos/{BVID}/1/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": url}
    streamed = ""
    async with websockets.connect(address, additional_headers=headers) as socket:
        await socket.send(json.dumps(frame))
        try:
            while True:
                received = json.loads(await asyncio.wait_for(socket.recv(), 60))
                if received["type"] == "token":
                    if not streamed:
                        os.kill(server_pid, signal.SIGTERM)
                    streamed += received["text"]
        except websockets.ConnectionClosed:
            return streamed


def stream_through_a_restart(tmp_path: Path, frame: dict) -> str:
    async_to_sync(ready_part)(bvid=BVID)
    cookie = session_cookies(User.objects.create_user("alice"))["sessionid"]
    with supervised_site(tmp_path, **SITE_ENV, **fakes_env()) as site:
        server = site.component("server-1")["pid"]
        streamed = async_to_sync(stream_until_closed)(site.url, cookie, server, frame)
        wait_for(lambda: site.component("server-1")["pid"] != server, timeout=60)
    return streamed


def test_a_summary_cut_off_by_sigterm_is_saved_interrupted_with_server_restarted(
    tmp_path: Path, llm: FakeOpenAI
) -> None:
    llm.token_delay = 0.3  # about 15 s for the whole reply: longer than the grace period
    streamed = stream_through_a_restart(tmp_path, {"type": "summary"})
    summary = Summary.objects.get()
    assert (summary.status, summary.error_code) == (Summary.Status.INTERRUPTED, "server_restarted")
    assert (summary.content[: len(streamed)], len(streamed) > 1, summary.content != LLM_REPLY) == (
        streamed,
        True,
        True,
    )


def test_an_answer_cut_off_by_sigterm_is_saved_interrupted_with_server_restarted(
    tmp_path: Path, llm: FakeOpenAI
) -> None:
    llm.token_delay = 0.3
    stream_through_a_restart(tmp_path, {"type": "ask", "question": "红烧肉怎么做？"})
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, answer.error_code) == (Message.Status.INTERRUPTED, "server_restarted")

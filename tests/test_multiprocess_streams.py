"""Two server processes and one worker on the embedded PostgreSQL and its channel layer: what one
process starts, a socket on the other follows live, and one summary is made once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
import websockets
from asgiref.sync import async_to_sync
from httpx_sse import connect_sse

from chat.models import Summary
from tests.api_client import daphne_server, session_cookies, user_with_token
from tests.factories import ready_part
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.openai import FakeOpenAI
from tests.site_processes import fakes_env, start_worker, stop_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BVID = "BV117411r7R1"
TOKEN_DELAY = 0.04
# What the shared `llm` fixture answers: a summary with moments, about 60 streamed pieces.
LLM_REPLY = "## 摘要\n这个视频讲了红烧肉的做法 [00:00]，先焯水 [00:03]，再炒糖色 [00:08]。" * 3


@pytest.fixture
def site_env(bilibili: FakeBilibili, llm: FakeOpenAI) -> dict[str, str]:
    """What every site process needs: the fakes, the cross-process layer on the test database."""
    return {"CHANNEL_LAYER": "postgres", **fakes_env()}


@pytest.fixture
def two_servers(site_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    with daphne_server(**site_env) as server_a, daphne_server(**site_env) as server_b:
        yield server_a, server_b


class Socket:
    """A signed-in websocket on one server process, read frame by frame."""

    def __init__(self, url: str, cookie: str) -> None:
        self.address = f"ws://{url.removeprefix('http://')}/ws/videos/{BVID}/1/"
        self.headers = {"Cookie": f"sessionid={cookie}", "Origin": url}

    async def __aenter__(self) -> Socket:
        self.connection = await websockets.connect(self.address, additional_headers=self.headers)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.connection.close()

    async def frame(self, timeout: float = 60) -> dict:
        return json.loads(await asyncio.wait_for(self.connection.recv(), timeout))

    async def frames_until(self, *, kind: str, stage: str | None = None) -> list[dict]:
        frames = [await self.frame()]
        while not (frames[-1]["type"] in (kind, "error") and frames[-1].get("stage", stage) == stage):
            frames.append(await self.frame())
        return frames


def summary_over_sse(url: str, token: str, events: list[tuple[str, dict]], started: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/videos/{BVID}/parts/1/summary"
    with httpx.Client(base_url=url, headers=headers, timeout=60, trust_env=False) as client:
        with connect_sse(client, "GET", path, params={"stream": "true"}) as source:
            for event in source.iter_sse():
                events.append((event.event, event.json()))
                if event.event == "token":
                    started.set()
    started.set()


def streamed_text(frames: list[dict]) -> str:
    return "".join(frame["text"] for frame in frames if frame["type"] == "token")


def test_a_socket_on_one_process_follows_ingest_and_summary_started_on_the_other(
    two_servers: tuple[str, str], site_env: dict[str, str], llm: FakeOpenAI
) -> None:
    server_a, server_b = two_servers
    user, token = user_with_token()
    cookie = session_cookies(user)["sessionid"]
    submitted = httpx.post(
        f"{server_b}/api/v1/videos", json={"link": BVID}, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert submitted.status_code == 202

    async def follow_on_a() -> tuple[list[dict], list[dict], list[tuple[str, dict]]]:
        async with Socket(server_a, cookie) as socket_a:
            first = await socket_a.frame()
            assert (first["type"], first["stage"]) == ("progress", "queued")
            worker = start_worker(site_env)  # the work starts only once the socket listens
            try:
                progress = [first, *await socket_a.frames_until(kind="progress", stage="ready")]
            finally:
                await asyncio.to_thread(stop_worker, worker)
            llm.token_delay = TOKEN_DELAY
            sse_events: list[tuple[str, dict]] = []
            started = threading.Event()
            on_b = threading.Thread(target=summary_over_sse, args=(server_b, token, sse_events, started))
            on_b.start()
            await asyncio.to_thread(started.wait, 60)
            await socket_a.connection.send(json.dumps({"type": "summary"}))
            summary_frames = await socket_a.frames_until(kind="done")
            await asyncio.to_thread(on_b.join, 60)
            return progress, summary_frames, sse_events

    progress, summary_frames, sse_events = asyncio.run(follow_on_a())

    stages = [frame["stage"] for frame in progress]
    assert stages[-1] == "ready"
    assert len(set(stages)) >= 3, stages  # live stages from the worker, not just the end
    final = Summary.objects.get()
    assert summary_frames[-1]["type"] == "done"
    assert streamed_text(summary_frames) == final.content
    assert sum(frame["type"] == "token" for frame in summary_frames) >= 5  # followed live, not read at the end
    assert "".join(data["text"] for name, data in sse_events if name == "token") == final.content
    assert len(llm.text_requests) == 1


def test_the_same_summary_asked_on_both_processes_is_made_once(
    two_servers: tuple[str, str], site_env: dict[str, str], llm: FakeOpenAI
) -> None:
    server_a, server_b = two_servers
    async_to_sync(ready_part)(bvid=BVID)
    _, token = user_with_token()
    llm.token_delay = TOKEN_DELAY
    results: dict[str, list[tuple[str, dict]]] = {"a": [], "b": []}
    threads = [
        threading.Thread(target=summary_over_sse, args=(url, token, results[name], threading.Event()))
        for name, url in (("a", server_a), ("b", server_b))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    final = Summary.objects.get()
    for events in results.values():
        assert events[-1][0] == "done"
        assert "".join(data["text"] for name, data in events if name == "token") == final.content
    assert final.content.startswith("## 摘要")
    assert len(llm.text_requests) == 1

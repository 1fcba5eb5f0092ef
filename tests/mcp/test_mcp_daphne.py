"""The whole story over /mcp: a real daphne and worker, driven by the SDK's own client over streamable
HTTP: list the tools, submit a (fake) video, wait for it, get its summary, ask it a question."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from mcp.client.session import ClientSession

from chat.models import Message, Summary
from tests.api_client import daphne_server, user_with_token
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.openai import FakeOpenAI
from tests.mcp.client import TOOLS, data_of, mcp_session, site_env, start_worker, stop_worker
from videos.models import VideoPart

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BVID = "BV117411r7R1"  # the fake's video with subtitles: 大家好 at 7.94 s, 今天讲快板 at 9.1 s
CUE_STARTS = {7940, 9100}
# What the shared `llm` fixture answers, for the summary and the question alike.
LLM_REPLY = "## 摘要\n先打招呼，再讲快板。\n\n## 要点\n- [00:07] 大家好\n- [00:09] 今天讲快板\n"


async def wait_until_ready(session: ClientSession) -> dict:
    for _ in range(600):
        progress = data_of(await session.call_tool("get_progress", {"bvid": BVID}))
        if progress["ready"] or progress["stage"] == "failed":
            return progress
        await asyncio.sleep(0.2)
    raise AssertionError(f"not ready: {progress}")


async def story(url: str, token: str, worker_env: dict[str, str]) -> dict[str, Any]:
    seen: dict[str, Any] = {"notifications": []}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen["notifications"].append((progress, message))

    async with mcp_session(url, token) as session:
        seen["tools"] = (await session.list_tools()).tools
        seen["submitted"] = data_of(
            await session.call_tool("submit_video", {"link": f"https://www.bilibili.com/video/{BVID}/"})
        )
        worker = start_worker(worker_env)
        try:
            seen["ready"] = await wait_until_ready(session)
        finally:
            await asyncio.to_thread(stop_worker, worker)
        summary = await session.call_tool("get_summary", {"bvid": BVID}, progress_callback=on_progress)
        seen["summary"] = data_of(summary)
        seen["answer"] = data_of(await session.call_tool("ask_video", {"question": "他先说了什么？", "bvid": BVID}))
        seen["library"] = data_of(await session.call_tool("list_library", {"status": "ready"}))
        seen["search"] = data_of(await session.call_tool("search_library", {"query": "快板", "limit": 1}))
        seen["resource"] = await session.read_resource(f"chatbili://videos/{BVID}/1/summary")
    return seen


def test_an_mcp_client_submits_waits_summarizes_and_asks(
    bilibili: FakeBilibili, llm: FakeOpenAI, settings: Any
) -> None:
    _, token = user_with_token()
    env = site_env(settings)
    with daphne_server(**env) as url:
        seen = async_to_sync(story)(url, token, env)

    assert {tool.name for tool in seen["tools"]} == TOOLS
    for tool in seen["tools"]:
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name
        assert "\n" in tool.description and tool.description.isascii() is False, tool.name  # zh, then en

    assert seen["submitted"]["bvid"] == BVID
    assert [part["page"] for part in seen["submitted"]["parts"]] == [1]
    assert seen["submitted"]["progress"]["ready"] is False
    assert (seen["ready"]["stage"], seen["ready"]["ready"]) == ("ready", True)

    summary, stored = seen["summary"], Summary.objects.get(part__video__bvid=BVID)
    assert summary["abstract"] == stored.content
    points = [(point["start_ms"], point["text"]) for point in summary["key_points"]]
    assert points == [(point["start_ms"], point["text"]) for point in stored.key_points]
    assert points and {start for start, _ in points} <= CUE_STARTS
    for point in summary["key_points"]:
        assert point["url"] == f"{url}/videos/{BVID}/1/?t={point['start_ms'] // 1000}"
        assert point["bilibili_url"] == f"https://www.bilibili.com/video/{BVID}?p=1&t={point['start_ms'] // 1000}"
    assert [chapter["title"] for chapter in summary["chapters"]] == ["开场", "打招呼", "快板正片"]
    assert seen["notifications"][0] == (1.0, "开始生成总结 / generating the summary")
    assert [step for step, _ in seen["notifications"]] == list(range(1, len(seen["notifications"]) + 1))

    answer = seen["answer"]
    message = Message.objects.get(pk=answer["message_id"])
    assert answer["answer"] == message.content
    assert answer["citations"] and {citation["start_ms"] for citation in answer["citations"]} <= CUE_STARTS
    for citation in answer["citations"]:
        assert (citation["bvid"], citation["page"]) == (BVID, 1)
        assert citation["url"] == f"{url}/videos/{BVID}/1/?t={citation['start_ms'] // 1000}"

    assert [(item["bvid"], item["page"]) for item in seen["library"]["items"]] == [(BVID, 1)]
    [hit] = seen["search"]["hits"]
    assert (hit["bvid"], hit["page"]) == (BVID, 1) and "今天讲快板" in hit["text"]
    assert hit["url"] == f"{url}/videos/{BVID}/1/?t={hit['start_ms'] // 1000}"
    part = VideoPart.objects.get(video__bvid=BVID)
    assert seen["resource"].contents[0].text.endswith(stored.content + "\n")
    assert seen["resource"].contents[0].text.startswith(f"# {part.video.title} · {part.title}\n")

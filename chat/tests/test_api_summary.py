"""GET /videos/{bvid}/parts/{page}/summary: JSON once made, SSE with stream=true, 202 while ingesting."""

from __future__ import annotations

from typing import Any

import pytest

from chat.models import Summary, UsageRecord
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)
SUMMARY = f"{API}/videos/BV1xx411c7mD/parts/1/summary"


# What the shared `llm` fixture (tests/fixtures.py) answers.
LLM_REPLY = "## 摘要\n红烧肉的做法。\n\n## 要点\n- [00:20] 选五花肉\n"


async def test_json_summary_is_made_once_then_served_from_the_cache() -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        first = await client.get(SUMMARY)
        second = await client.get(SUMMARY)

    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["bvid"], body["page"], body["language"], body["status"]) == ("BV1xx411c7mD", 1, "zh", "complete")
    assert body["offline"] is True and "红烧肉" in body["content"]
    assert body["key_points"] and {"start_ms", "text"} == set(body["key_points"][0])
    assert second.json() == body
    assert await Summary.objects.acount() == 1


async def test_stream_gives_token_events_read_by_an_sse_client(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.005  # tokens apart: one network read bringing the whole reply is one delta
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response, events = await sse_request(client, "GET", SUMMARY, params={"stream": "true", "language": "en"})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("token") >= 2, names
    assert all(name == data["type"] for name, data in events)
    streamed = "".join(data["text"] for name, data in events if name == "token")
    done = events[-1][1]
    assert done["summary"]["content"] == streamed and "选五花肉" in streamed
    assert done["summary"]["language"] == "en" and not done["summary"]["offline"]
    assert len(llm.text_requests) == 1 and len(llm.answered("/v1/chat/completions")) == 2  # 2: the chapters


async def test_a_cached_summary_streams_whole() -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        made = (await client.get(SUMMARY)).json()
        _, events = await sse_request(client, "GET", SUMMARY, params={"stream": "true"})
    assert [name for name, _ in events] == ["start", "token", "done"]
    assert events[0][1]["cached"] is True and events[1][1]["text"] == made["content"]


async def test_202_with_the_part_while_ingesting_and_409_when_it_failed() -> None:
    _, token = await auser_with_token()
    part = await ready_part()
    async with api_client(token) as client:
        await VideoPart.objects.filter(pk=part.pk).aupdate(stage="embeddings", progress_percent=70)
        running = await client.get(SUMMARY)
        streaming = await client.get(SUMMARY, params={"stream": "true"})
        await VideoPart.objects.filter(pk=part.pk).aupdate(
            stage="failed", error_code="legacy_error", error_params={"text": "没有字幕"}
        )
        failed = await client.get(SUMMARY)

    assert running.status_code == 202 and streaming.status_code == 202
    assert running.json()["status"] == "ingesting"
    assert (running.json()["part"]["stage"], running.json()["part"]["progress_percent"]) == ("embeddings", 70)
    assert assert_error(failed, 409, "ingest_failed")["message"] == "没有字幕"
    assert not await Summary.objects.aexists()


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/videos/BV1xx411c7mD/parts/1/summary", {"language": "fr"}, 422, "invalid_request"),
        ("/videos/BV1xx411c7mD/parts/1/summary", {"stream": "maybe"}, 422, "invalid_request"),
        ("/videos/BV1xx411c7mD/parts/3/summary", {}, 404, "part_not_found"),
        ("/videos/BV1GJ411x7h7/parts/1/summary", {"stream": "true"}, 404, "part_not_found"),
    ],
)
async def test_bad_summary_requests(path: str, params: dict, status: int, code: str) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response = await client.get(API + path, params=params)
    assert_error(response, status, code)


async def test_llm_failure_is_502_and_recorded(llm: FakeOpenAI, settings: Any) -> None:
    settings.LLM_RETRY_ATTEMPTS = 1
    user, token = await auser_with_token()
    await ready_part()
    llm.always_fail = 500
    async with api_client(token) as client:
        response = await client.get(SUMMARY)
    assert_error(response, 502, "summary_failed")
    assert await UsageRecord.objects.filter(user=user, status="failed").aexists()

"""Summary styles: each built-in style makes its own prompt and its own cache entry, on every entry
point (gate, API JSON and SSE, websocket, `manage.py summarize`); an unknown style is bad_style."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import CommandError
from django.test import Client

from chat.gate import SummaryOrder, generation_open
from chat.models import Summary
from chat.routing import websocket_urlpatterns
from chat.styles import STYLES, style_key, style_prompt, style_sections, styled_messages
from chat.summaries import summary_stream
from chat.summary_keys import summary_key
from core.errors import AppError
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.commands import run_command
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)
SUMMARY = f"{API}/videos/BV1xx411c7mD/parts/1/summary"
LLM_REPLY = "## 摘要\n红烧肉的做法。\n\n## 要点\n- [00:20] 选五花肉\n"


async def collect(events: Any) -> list[dict]:
    return [event async for event in events]


def system_prompts(llm: FakeOpenAI) -> list[str]:
    """The system prompts of the summary's map, single-pass and reduce calls (chapters' structured
    calls left out)."""
    requests = llm.answered("/v1/chat/completions")
    return [request.body["messages"][0]["content"] for request in requests if "response_format" not in request.body]


async def test_each_style_sends_its_own_prompt(llm: FakeOpenAI) -> None:
    part = await ready_part()
    for style in STYLES:
        await collect(summary_stream(part, "zh", None, style=style))

    brief, standard, study, qa = system_prompts(llm)
    assert len({brief, standard, study, qa}) == 4
    assert brief == standard + "\n\n" + style_sections("brief")["summary"].replace(
        "${abstract_heading}", "摘要"
    ).replace("${points_heading}", "要点")
    assert "## 概念与定义" in study and "## 步骤" in study and "## 公式" in study
    assert "## 问答" in qa and "**问：**" in qa


def test_the_standard_prompt_is_not_changed() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    prompt = style_prompt("standard", language="zh", headings=("摘要", "要点"), video={"title": "t", "part_title": ""})
    assert styled_messages(messages, prompt, phase="summary") == messages
    assert styled_messages(messages, prompt, phase="map") == messages


def test_english_summaries_get_english_style_headings() -> None:
    prompt = style_prompt(
        "study", language="en", headings=("摘要 Abstract", "要点 Key points"), video={"title": "t", "part_title": ""}
    )
    assert "## 概念与定义 Definitions" in prompt.summary_text
    assert "「要点 Key points」之后" in prompt.summary_text


async def test_each_style_is_its_own_cache_entry(llm: FakeOpenAI) -> None:
    part = await ready_part()
    await collect(summary_stream(part, "zh", None, style="brief"))
    await collect(summary_stream(part, "zh", None, style="qa"))
    again = await collect(summary_stream(part, "zh", None, style="brief"))

    rows = [row async for row in Summary.objects.order_by("style").values_list("style", "status")]
    assert rows == [("brief", "complete"), ("qa", "complete")]
    assert again[0]["cached"] is True
    assert len(system_prompts(llm)) == 2


def test_the_offline_extractor_has_one_entry_for_every_style(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    assert summary_key(part_id=1, language="zh", style="study").style == "standard"


async def test_the_map_phase_of_a_study_summary_keeps_definitions(llm: FakeOpenAI, settings: Any) -> None:
    settings.SUMMARY_SINGLE_PASS_TOKENS = 60
    settings.SUMMARY_SECTION_TOKENS = 60
    part = await ready_part()
    await collect(summary_stream(part, "zh", None, style="study"))

    prompts = system_prompts(llm)
    map_prompts, reduce_prompt = prompts[:-1], prompts[-1]
    assert len(map_prompts) >= 2
    assert all(prompt.endswith("\n\n" + style_sections("study")["map"]) for prompt in map_prompts)
    assert "## 概念与定义" in reduce_prompt


@pytest.mark.parametrize("style", ["fancy", "custom:", "custom:0", "custom:abc", "Brief", "custom:1:ab"])
def test_an_unknown_style_is_bad_style(style: str) -> None:
    with pytest.raises(AppError) as raised:
        style_key(style=style, user=None)
    assert (raised.value.code, raised.value.status, raised.value.params["style"]) == ("bad_style", 422, style)


async def test_the_gate_refuses_an_unknown_style_before_anything_else() -> None:
    with pytest.raises(AppError) as raised:  # no such part either: the style is checked first
        await generation_open(user=None, bvid="BV1xx411c7mD", page=1, order=SummaryOrder("zh", style="fancy"))
    assert raised.value.code == "bad_style"


async def test_the_api_takes_a_style(llm: FakeOpenAI) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response = await client.get(SUMMARY, params={"style": "qa"})
        bad = await client.get(SUMMARY, params={"style": "fancy"})

    assert response.status_code == 200, response.text
    assert response.json()["style"] == "qa"
    assert "## 问答" in system_prompts(llm)[0]
    error = assert_error(bad, 422, "bad_style")
    assert error["details"] == {"styles": ["brief", "standard", "study", "qa", "custom:<id>"]}


async def test_the_api_streams_a_style(llm: FakeOpenAI) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response, events = await sse_request(client, "GET", SUMMARY, params={"stream": "true", "style": "brief"})

    assert response.status_code == 200
    assert events[-1][1]["summary"]["style"] == "brief"


async def test_the_websocket_takes_a_style(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="alice")
    await ready_part()
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/videos/BV1xx411c7mD/1/")
    communicator.scope["user"] = user
    await communicator.connect()
    await communicator.receive_json_from()  # progress
    await communicator.send_json_to({"type": "summary", "style": "fancy"})
    refused = await communicator.receive_json_from(timeout=10)
    await communicator.send_json_to({"type": "summary", "language": "zh", "style": "study"})
    frames = [await communicator.receive_json_from(timeout=10)]
    while frames[-1]["type"] not in ("done", "error"):
        frames.append(await communicator.receive_json_from(timeout=10))
    await communicator.disconnect()

    assert frames[-1]["type"] == "done" and frames[-1]["summary"]["style"] == "study", frames[-1]
    assert (refused["type"], refused["stream"], refused["code"]) == ("error", "summary", "bad_style")


def run_summarize(*args: str) -> str:
    return run_command("summarize", *args)


async def test_the_summarize_command_takes_a_style(llm: FakeOpenAI) -> None:
    await ready_part()
    out = await asyncio.to_thread(run_summarize, "BV1xx411c7mD", "--style", "brief")

    summary = await Summary.objects.aget()
    assert (summary.style, out) == ("brief", f"{summary.content}\n")
    with pytest.raises(CommandError, match=r"^bad_style: "):
        await asyncio.to_thread(run_summarize, "BV1xx411c7mD", "--style", "fancy")


async def test_the_admin_filter_counts_summaries_and_tokens_per_style(llm: FakeOpenAI) -> None:
    part = await ready_part()
    await collect(summary_stream(part, "zh", None, style="brief"))
    admin = await User.objects.acreate_superuser("root", "root@example.com", "a-long-pass-phrase-9")

    html = await sync_to_async(admin_changelist)(admin, "?style=brief")

    brief = await Summary.objects.aget(style="brief")
    tokens = brief.prompt_tokens + brief.completion_tokens
    assert f"brief (1, {tokens:,})" in html and "standard (0, 0)" in html and "custom (0, 0)" in html


def admin_changelist(user: User, query: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/admin/chat/summary/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_notes_export_takes_a_style(llm: FakeOpenAI, client: Client) -> None:
    part = async_to_sync(ready_part)()
    key = summary_key(part_id=part.pk, language="zh", style="brief")
    Summary.objects.create(
        part=part,
        language="zh",
        prompt_version=key.prompt_version,
        model=key.model,
        style="brief",
        status=Summary.Status.COMPLETE,
        content="## 摘要\n简短的版本。",
        chapters=[{"start_ms": 0, "end_ms": 300_000, "title": "做红烧肉", "gist": ""}],
    )
    client.force_login(User.objects.create_user("alice"))

    brief = client.get("/videos/BV1xx411c7mD/1/notes.md?language=zh&style=brief").content.decode()
    standard = client.get("/videos/BV1xx411c7mD/1/notes.md?language=zh").content.decode()
    bad = client.get("/videos/BV1xx411c7mD/1/notes.md?style=fancy")

    assert "### 摘要\n简短的版本。" in brief and 'chapters:\n  - "00:00 做红烧肉"\n---\n' in brief
    assert "简短的版本" not in standard and "chapters:" not in standard
    assert bad.status_code == 422

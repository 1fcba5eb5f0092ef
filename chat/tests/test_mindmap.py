"""The mind map (chapters → key points → details, every node at a real moment) and the API of a
part's chapters and mind map."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat.mindmap import MindMap, part_mindmap, player_url
from chat.models import Summary
from chat.summaries import summary_stream
from chat.tests.fixtures_outline import amake_part, chapters_json, collect, lecture_cues
from tests.api_client import API, api_client, assert_error, auser_with_token
from tests.fakes.openai import FakeOpenAI
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)

LLM_REPLY = "## 摘要\n讲红烧肉。\n\n## 要点\n- 📌 [00:01] 选料 *要* [肥瘦]\n- 🔥 [01:06] 炒糖色\n- 🍲 [02:27] 收尾\n"
CHAPTERS = chapters_json(("00:00", "选料", "五花肉怎么挑"), ("00:59", "炒糖色", "小火熬糖"))


def test_the_outline_is_markmap_markdown_with_a_moment_on_every_node() -> None:
    outline = MindMap("BV1xx411c7mD", 2)
    chapters = [
        {"start_ms": 0, "end_ms": 60_000, "title": "开场", "gist": "介绍"},
        {"start_ms": 60_000, "end_ms": 90_000, "title": "正题", "gist": "讲正题", "points": []},
    ]
    points = [{"start_ms": 1_250, "text": "📌 第一点"}]
    outline.build(
        title="视频", chapters=chapters, key_points=points, cues=[(1_250, "第一句话。"), (60_000, "正题开始。")]
    )

    url = "https://www.bilibili.com/video/BV1xx411c7mD?p=2&t="
    assert outline.markdown() == (
        f"# [[00:00]]({url}0) 视频\n"
        f"## [[00:00]]({url}0) 开场\n"
        f"- [[00:01]]({url}1) 📌 第一点\n"
        f"  - [[00:01]]({url}1) 「第一句话。」\n"
        f"## [[01:00]]({url}60) 正题\n"
        f"- [[01:00]]({url}60) 讲正题\n"
    )
    assert [(n["id"], n["parent"], n["depth"], n["kind"], n["start_ms"]) for n in outline.nodes] == [
        (0, None, 0, "root", 0),
        (1, 0, 1, "chapter", 0),
        (2, 1, 2, "point", 1_250),
        (3, 2, 3, "detail", 1_250),
        (4, 0, 1, "chapter", 60_000),
        (5, 4, 2, "point", 60_000),
    ]
    assert outline.nodes[2]["url"] == player_url("BV1xx411c7mD", 2, 1_250) == f"{url}1"


async def test_the_mind_map_of_a_summary_puts_key_points_under_their_chapters(llm: FakeOpenAI) -> None:
    cues = lecture_cues(24)
    part = await amake_part(cues, duration_seconds=180)
    llm.json_reply = CHAPTERS
    await collect(summary_stream(part, "zh", None))
    part = await VideoPart.objects.select_related("video").aget(pk=part.pk)

    mindmap = await sync_to_async(part_mindmap)(part=part, language="zh", style="standard")

    nodes = mindmap["nodes"]
    assert [(n["depth"], n["kind"], n["text"]) for n in nodes if n["kind"] in ("chapter", "point")] == [
        (1, "chapter", "选料"),
        (2, "point", "📌 选料 *要* [肥瘦]"),
        (1, "chapter", "炒糖色"),
        (2, "point", "🔥 炒糖色"),
        (2, "point", "🍲 收尾"),
    ]
    cue_starts = {cue.start_ms for cue in cues}
    assert all(node["start_ms"] in cue_starts for node in nodes if node["kind"] in ("point", "detail"))
    assert all(f"&t={node['start_ms'] // 1000}" in node["url"] for node in nodes)
    assert "- [[00:01]](https://www.bilibili.com/video/" in mindmap["markdown"]
    assert r"📌 选料 \*要\* \[肥瘦\]" in mindmap["markdown"]  # the model's text cannot make links or emphasis
    assert mindmap["extractive"] is False and len(llm.requests) == 2  # no call of its own


async def test_offline_the_mind_map_is_extractive_and_labelled(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = await amake_part(lecture_cues(60), duration_seconds=450)
    await collect(summary_stream(part, "zh", None))
    part = await VideoPart.objects.select_related("video").aget(pk=part.pk)

    mindmap = await sync_to_async(part_mindmap)(part=part, language="zh", style="standard")

    assert mindmap["extractive"] is True and mindmap["offline"] is True
    assert mindmap["nodes"][0]["text"] == "红烧肉全攻略 · P1 · 离线摘录 extractive"
    assert sum(node["kind"] == "chapter" for node in mindmap["nodes"]) == 2
    assert sum(node["kind"] == "point" for node in mindmap["nodes"]) >= 5


async def test_a_summary_stored_without_chapters_gets_derived_ones_without_a_write(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = await amake_part(lecture_cues(60), duration_seconds=450)
    await collect(summary_stream(part, "zh", None))
    await Summary.objects.aupdate(chapters=[])
    part = await VideoPart.objects.select_related("video").aget(pk=part.pk)

    mindmap = await sync_to_async(part_mindmap)(part=part, language="zh", style="standard")

    assert sum(node["kind"] == "chapter" for node in mindmap["nodes"]) == 2
    assert (await Summary.objects.aget()).chapters == []


# --- the API -----------------------------------------------------------------------------------------------


async def test_the_api_serves_the_chapters_and_the_mind_map(llm: FakeOpenAI) -> None:
    _, token = await auser_with_token()
    part = await amake_part(lecture_cues(24), duration_seconds=180)
    llm.json_reply = CHAPTERS
    base = f"{API}/videos/{part.video.bvid}/parts/1"
    async with api_client(token) as client:
        summary = await client.get(f"{base}/summary")
        chapters = await client.get(f"{base}/chapters")
        mindmap = await client.get(f"{base}/mindmap")

    assert summary.status_code == 200 and [c["title"] for c in summary.json()["chapters"]] == ["选料", "炒糖色"]
    assert chapters.status_code == 200, chapters.text
    body = chapters.json()
    assert (body["bvid"], body["page"], body["language"], body["style"]) == (part.video.bvid, 1, "zh", "standard")
    assert body["chapters"] == [
        {"start_ms": 0, "end_ms": 59_872, "title": "选料", "gist": "五花肉怎么挑", "source": "llm"},
        {"start_ms": 59_872, "end_ms": 180_000, "title": "炒糖色", "gist": "小火熬糖", "source": "llm"},
    ]
    assert mindmap.status_code == 200
    assert mindmap.json()["markdown"].startswith("# [[00:00]](https://www.bilibili.com/video/")
    assert mindmap.json()["nodes"][1]["kind"] == "chapter"
    assert len(llm.requests) == 2


async def test_before_any_summary_the_chapters_are_a_404() -> None:
    _, token = await auser_with_token()
    part = await amake_part(lecture_cues(10))
    async with api_client(token) as client:
        chapters = await client.get(f"{API}/videos/{part.video.bvid}/parts/1/chapters")
        mindmap = await client.get(f"{API}/videos/{part.video.bvid}/parts/1/mindmap")
    assert_error(chapters, 404, "summary_not_found")
    assert_error(mindmap, 404, "summary_not_found")


async def test_while_the_summary_is_being_made_the_mind_map_is_a_409() -> None:
    _, token = await auser_with_token()
    part = await amake_part(lecture_cues(10))
    await Summary.objects.acreate(
        part=part, language="zh", prompt_version="offline-v1", model="offline-extractive", offline=True
    )
    async with api_client(token) as client:
        response = await client.get(f"{API}/videos/{part.video.bvid}/parts/1/mindmap")
    assert_error(response, 409, "summary_in_progress")


async def test_a_part_still_being_ingested_is_a_409_and_a_missing_one_a_404() -> None:
    _, token = await auser_with_token()
    part = await amake_part(lecture_cues(10))
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage=VideoPart.Stage.EMBEDDINGS, progress_percent=60)
    async with api_client(token) as client:
        not_ready = await client.get(f"{API}/videos/{part.video.bvid}/parts/1/chapters")
        missing = await client.get(f"{API}/videos/{part.video.bvid}/parts/9/chapters")
    assert assert_error(not_ready, 409, "part_not_ready")["details"] == {"stage": "embeddings", "percent": 60}
    assert_error(missing, 404, "part_not_found")


async def test_both_endpoints_are_in_the_openapi() -> None:
    async with api_client() as client:
        schema = (await client.get(f"{API}/openapi.json")).json()
    for name in ("chapters", "mindmap"):
        operation = schema["paths"][f"{API}/videos/{{bvid}}/parts/{{page}}/{name}"]["get"]
        assert {"200", "404", "409"} <= set(operation["responses"])
        assert {parameter["name"] for parameter in operation["parameters"]} >= {"bvid", "page", "language", "style"}

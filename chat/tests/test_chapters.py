"""Chapters: they tile each part exactly at real cue starts, from the most trusted source there is
(the uploader's, a long part's sections, one structured call for a short part, else extractive)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat.chapters import ChapterDraft, chapters_tiled, extractive_drafts, tiling_errors
from chat.models import Summary
from chat.selectors import Passage
from chat.summaries import summary_stream
from chat.summaries.chaptering import RESPONSE_FORMAT, drafts_from_json
from chat.tests.fixtures_outline import (
    amake_part,
    chapters_json,
    collect,
    is_section_map,
    is_structured,
    lecture_cues,
    section_reply,
)
from chat.timestamps import TimestampChecker
from tests.fakes.bilibili import UPLOADER_CHAPTERS, WITH_SUBTITLES
from tests.fakes.openai import FakeOpenAI
from videos import services
from videos.bilibili import BilibiliClient
from videos.bilibili_replies import uploader_chapters_from_player
from videos.ingest import part_ingest
from videos.models import VideoPart
from videos.submission import video_submit

SUMMARY_REPLY = "## 摘要\n讲红烧肉。\n\n## 要点\n- 📌 [00:01] 选料\n- 🔥 [00:52] 炒糖色\n"
LLM_REPLY = SUMMARY_REPLY

CUES = [(1_250, 8_000), (8_661, 15_000), (15_772, 22_000), (23_250, 30_000), (30_661, 60_000)]
CHECKER = TimestampChecker.from_cues(CUES)


# --- Tiling -------------------------------------------------------------------------------------------


def test_chapters_tile_the_part_from_zero_to_its_end_at_cue_starts() -> None:
    drafts = [ChapterDraft(1_000, "开场", "g1"), ChapterDraft(16_000, "中段", "g2"), ChapterDraft(30_800, "结尾", "g3")]
    chapters = chapters_tiled(drafts, checker=CHECKER, end_ms=61_500, source="llm")
    assert [(c["start_ms"], c["end_ms"], c["title"]) for c in chapters] == [
        (0, 15_772, "开场"),
        (15_772, 30_661, "中段"),
        (30_661, 61_500, "结尾"),
    ]
    assert tiling_errors(chapters, end_ms=61_500, cue_starts=CHECKER.starts) == []


def test_drafts_falling_on_one_cue_or_past_the_end_are_dropped() -> None:
    drafts = [
        ChapterDraft(0, "一"),
        ChapterDraft(8_700, "二"),
        ChapterDraft(8_900, "二的重复"),  # the same cue
        ChapterDraft(95_000, "片尾之后"),  # past the transcript
        ChapterDraft(23_000, "  "),  # no title
    ]
    chapters = chapters_tiled(drafts, checker=CHECKER, end_ms=61_500, source="uploader")
    assert [(c["start_ms"], c["end_ms"], c["title"]) for c in chapters] == [(0, 8_661, "一"), (8_661, 61_500, "二")]


def test_tiling_errors_name_a_gap_and_a_start_off_the_cues() -> None:
    chapters = [
        {"start_ms": 0, "end_ms": 8_000, "title": "a"},
        {"start_ms": 8_661, "end_ms": 20_000, "title": "b"},
        {"start_ms": 20_000, "end_ms": 60_000, "title": "c"},
    ]
    assert tiling_errors(chapters, end_ms=61_500, cue_starts=CHECKER.starts) == [
        "the last chapter does not end at the part's end",
        "a gap or overlap at 8000",
        "20000 is not a cue start",
    ]


def test_extractive_chapters_cut_where_the_topic_changes() -> None:
    texts = [Passage(n * 60_000, n * 60_000 + 50_000, f"红烧肉选料第{n}点，五花肉要肥瘦相间。", 20) for n in range(4)]
    texts += [Passage(n * 60_000, n * 60_000 + 50_000, f"炒糖色第{n}步，冰糖小火慢慢熬化。", 20) for n in range(4, 8)]
    drafts = extractive_drafts(texts, end_ms=480_000)  # about one per three minutes: 3
    by_start = {draft.start_ms: draft for draft in drafts}
    assert len(drafts) == 3 and 240_000 in by_start
    assert "选料" in drafts[0].title and "糖色" in by_start[240_000].title


def test_the_structured_reply_is_read_and_a_fenced_or_broken_one_tolerated() -> None:
    reply = chapters_json(("00:00", "开场", "介绍"), ("1:02:03", "后半", "总结"), ("oops", "坏的", ""))
    assert drafts_from_json(reply) == [ChapterDraft(0, "开场", "介绍"), ChapterDraft(3_723_000, "后半", "总结")]
    assert drafts_from_json(f"```json\n{reply}\n```")[0].title == "开场"
    assert drafts_from_json("## 不是 JSON") == []


# --- Sources, through a whole summary --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_short_part_gets_its_chapters_from_one_structured_call(llm: FakeOpenAI) -> None:
    cues = lecture_cues(24)  # about three minutes
    part = await amake_part(cues, duration_seconds=180)
    llm.json_reply = chapters_json(
        ("00:00", "选料", "五花肉怎么挑"), ("00:59", "炒糖色", "小火熬糖"), ("02:06", "收尾", "收汁装盘")
    )
    events = await collect(summary_stream(part, "zh", None))

    summary = events[-1]["summary"]
    starts = [cue.start_ms for cue in cues]
    assert [(c["title"], c["source"]) for c in summary["chapters"]] == [
        ("选料", "llm"),
        ("炒糖色", "llm"),
        ("收尾", "llm"),
    ]
    assert tiling_errors(summary["chapters"], end_ms=180_000, cue_starts=starts) == []
    assert summary["chapters"][1]["start_ms"] == 59_872  # the cue that starts in 00:59
    assert (summary["llm_calls"], len(llm.requests)) == (2, 2)
    structured = llm.requests[1].body
    assert structured["response_format"] == RESPONSE_FORMAT
    prompt = structured["messages"][1]["content"]
    assert "讲红烧肉" in prompt  # it reads the summary …
    outline = prompt.split("字幕提纲：\n", 1)[1].splitlines()  # … and an outline, not the transcript again
    assert len(outline) == 6  # 24 one-line passages: every 4th, as 6 lines is all 10% of it allows
    assert outline[1] == "[00:30] " + cues[4].text[:30]
    stored = await Summary.objects.aget(pk=summary["id"])
    assert stored.chapters == summary["chapters"]


@pytest.mark.django_db(transaction=True)
async def test_an_unreadable_structured_reply_falls_back_to_extractive_chapters(llm: FakeOpenAI) -> None:
    cues = lecture_cues(40)
    part = await amake_part(cues, duration_seconds=300)
    llm.json_reply = "抱歉，我不会输出 JSON"
    events = await collect(summary_stream(part, "zh", None))

    chapters = events[-1]["summary"]["chapters"]
    assert {chapter["source"] for chapter in chapters} == {"extractive"}
    assert len(chapters) == 2
    assert tiling_errors(chapters, end_ms=300_000, cue_starts=[cue.start_ms for cue in cues]) == []


@pytest.mark.django_db(transaction=True)
async def test_a_failing_chapters_call_still_completes_the_summary(llm: FakeOpenAI, settings: Any) -> None:
    settings.LLM_RETRY_ATTEMPTS = 1
    part = await amake_part(lecture_cues(40), duration_seconds=300)
    llm.json_reply = lambda body: 1 / 0  # the fake answers 500
    events = await collect(summary_stream(part, "zh", None))

    summary = events[-1]["summary"]
    assert (events[-1]["type"], summary["status"], summary["content"]) == ("done", "complete", SUMMARY_REPLY)
    assert {chapter["source"] for chapter in summary["chapters"]} == {"extractive"}
    assert len(llm.requests) == summary["llm_calls"] == 2  # the failed call is counted too


@pytest.mark.django_db(transaction=True)
async def test_the_uploaders_chapters_win_and_cost_no_call(llm: FakeOpenAI) -> None:
    cues = lecture_cues(24)
    uploader = [
        {"start_ms": 0, "end_ms": 50_000, "title": "UP 主的开场"},
        {"start_ms": 50_000, "end_ms": 120_000, "title": "UP 主的糖色"},
        {"start_ms": 120_000, "end_ms": 200_000, "title": "UP 主的收尾"},
    ]
    part = await amake_part(cues, duration_seconds=200, uploader_chapters=uploader)
    events = await collect(summary_stream(part, "zh", None))

    chapters = events[-1]["summary"]["chapters"]
    assert [(c["start_ms"], c["title"], c["source"]) for c in chapters] == [
        (0, "UP 主的开场", "uploader"),
        (45_050, "UP 主的糖色", "uploader"),  # moved to the start of the line it falls in
        (118_161, "UP 主的收尾", "uploader"),
    ]
    assert chapters[0]["gist"] == "📌 选料" and chapters[1]["gist"] == "🔥 炒糖色"  # their key points
    assert chapters[-1]["end_ms"] == 200_000
    assert not any(is_structured(request.body) for request in llm.requests) and len(llm.requests) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_long_parts_chapters_are_its_sections_at_no_extra_call(llm: FakeOpenAI, settings: Any) -> None:
    settings.SUMMARY_SINGLE_PASS_TOKENS = 600
    settings.SUMMARY_SECTION_TOKENS = 500
    llm.reply = lambda body: section_reply(body) if is_section_map(body) else SUMMARY_REPLY
    cues = lecture_cues(120)  # 14.6 minutes
    part = await amake_part(cues, duration_seconds=900)
    events = await collect(summary_stream(part, "zh", None))

    maps = [request for request in llm.requests if is_section_map(request.body)]
    summary = events[-1]["summary"]
    chapters = summary["chapters"]
    assert len(maps) >= 3 and summary["llm_calls"] == len(maps) + 1 == len(llm.requests)
    assert {chapter["source"] for chapter in chapters} == {"sections"} and len(chapters) == len(maps)
    assert chapters[0]["title"] == "红烧肉的选料" and chapters[0]["gist"] == "这一段讲红烧肉的选料。"
    assert tiling_errors(chapters, end_ms=900_000, cue_starts=[cue.start_ms for cue in cues]) == []
    sections = [event for event in events if event["type"] == "section"]
    assert [(s["start_ms"], s["end_ms"], s["title"]) for s in sections] == [
        (c["start_ms"], c["end_ms"], c["title"]) for c in chapters
    ]


@pytest.mark.django_db(transaction=True)
async def test_offline_chapters_are_extractive(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    cues = lecture_cues(60)
    part = await amake_part(cues, duration_seconds=450)
    events = await collect(summary_stream(part, "zh", None))

    chapters = events[-1]["summary"]["chapters"]
    assert events[-1]["summary"]["offline"] is True
    assert {chapter["source"] for chapter in chapters} == {"extractive"} and len(chapters) == 2
    assert all(chapter["title"] and chapter["gist"] for chapter in chapters)
    assert tiling_errors(chapters, end_ms=450_000, cue_starts=[cue.start_ms for cue in cues]) == []


# --- The uploader's chapters at ingestion -----------------------------------------------------------------


def test_view_points_are_read_as_chapters_in_time_order() -> None:
    data = {
        "view_points": [
            {"type": 2, "from": 60, "to": 120, "content": "第二章"},
            {"type": 2, "from": 0, "to": 60, "content": " 第一章 "},
            {"type": 1, "from": 5, "to": 6, "content": "不是章节"},
            {"type": 2, "from": 90, "to": 95, "content": ""},
            "junk",
        ]
    }
    assert uploader_chapters_from_player(data) == [
        {"start_ms": 0, "end_ms": 60_000, "title": "第一章"},
        {"start_ms": 60_000, "end_ms": 120_000, "title": "第二章"},
    ]
    assert uploader_chapters_from_player({"view_points": None}) == []


@pytest.mark.django_db
async def test_the_player_reply_gives_the_subtitle_and_the_uploaders_chapters(bilibili: Any) -> None:
    async with BilibiliClient() as client:
        transcript, chapters = await client.fetch_subtitle_and_chapters(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
    assert transcript is not None and transcript.cues[0].text == "大家好"
    assert chapters == [
        {"start_ms": start * 1000, "end_ms": end * 1000, "title": title} for start, end, title in UPLOADER_CHAPTERS
    ]
    assert len(bilibili.calls("/x/player/wbi/v2")) == 1


@pytest.mark.django_db(transaction=True)
async def test_ingestion_keeps_the_uploaders_chapters_and_the_summary_uses_them(bilibili: Any, settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = await video_submit("BV117411r7R1")
    await sync_to_async(services.part_queue)(part_id=part.pk)
    assert await part_ingest(part.pk)
    part = await VideoPart.objects.aget(pk=part.pk)
    assert part.uploader_chapters == [
        {"start_ms": 0, "end_ms": 8_000, "title": "开场"},
        {"start_ms": 8_000, "end_ms": 10_000, "title": "打招呼"},
        {"start_ms": 10_000, "end_ms": 486_000, "title": "快板正片"},
    ]

    events = await collect(summary_stream(part, "zh", None))

    chapters = events[-1]["summary"]["chapters"]
    assert [(c["start_ms"], c["end_ms"], c["title"], c["source"]) for c in chapters] == [
        (0, 7_940, "开场", "uploader"),
        (7_940, 9_100, "打招呼", "uploader"),  # the lines at 0:07.94 and 0:09.1
        (9_100, 486_000, "快板正片", "uploader"),
    ]

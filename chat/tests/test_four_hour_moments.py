"""A 4-hour AI-subtitle transcript end to end: thousands of short unpunctuated lines, ingested
through the real chunking, summarized in map-reduce by a fake model that cites times it sees, a
second off, out of its section and invented. Every moment the product then shows is a real line
start of the part, and the chapters tile the part exactly.

Storing the part's thousand chunks takes most of the time, so the part and its summary are made once
for the module (`long_summary`) and no test here has its own database: the module fixture opens the
test database to these tests and flushes it at the end, as a transactional test does. The tests only
read the shared part and summary; the chat answer adds its own user and conversation."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings

from chat.conversations import answer_stream
from chat.mindmap import part_mindmap
from chat.summaries import summary_stream
from chat.timestamps import TIMESTAMP_PATTERN, format_timestamp, parse_timestamp
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LocalServer
from videos.types import Cue

pytestmark = pytest.mark.slow

HOURS = 4
SUBJECTS = ["神经网络", "反向传播", "梯度下降", "卷积", "注意力机制", "过拟合", "正则化", "学习率", "损失函数"]
FILLERS = ["那么", "其实", "我们可以看到", "这里", "大家注意", "所以说", "然后", "接下来", "也就是说", "对吧"]
ENDINGS = ["是非常重要的", "的效果会更好", "就会出问题", "大家记一下", "这个地方容易错", "我们待会再说"]


def ai_subtitle_cues(hours: int = HOURS, seed: int = 13) -> list[Cue]:
    """Bilibili-AI-style lines: 2-4 s each, small gaps, no punctuation, deterministic in `seed`.
    The first line starts a little after 0, as AI subtitles do."""
    rng = random.Random(seed)
    cues, start = [], 320
    while start < hours * 3_600_000:
        length = rng.randint(2_000, 4_000)
        subject = SUBJECTS[start * len(SUBJECTS) // (hours * 3_600_000)]
        text = f"{rng.choice(FILLERS)}{subject}{rng.choice(ENDINGS)}"
        cues.append(Cue(start, start + length, text))
        start += length + rng.choice([0, 0, 80, 150, 400])
    return cues


CUES = ai_subtitle_cues()
CUE_STARTS = {cue.start_ms for cue in CUES}
CUE_LABELS = {format_timestamp(start) for start in CUE_STARTS}
END_MS = CUES[-1].end_ms
FAR_PAST_THE_END = "[5:10:00]"


def user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


def stamps_in(text: str) -> list[str]:
    return [match.group(0) for match in TIMESTAMP_PATTERN.finditer(text)]


def nudged(label: str, seconds: int) -> str:
    return format_timestamp(parse_timestamp(label) + seconds * 1000)


def not_a_line_start_inside(labels: list[str]) -> str:
    """A time between two lines the model saw that is no line's second (made up, but in range)."""
    seconds = sorted({parse_timestamp(label) // 1000 for label in labels})
    for low, high in itertools.pairwise(seconds):
        for second in range(low + 1, high):
            if format_timestamp(second * 1000) not in CUE_LABELS:
                return format_timestamp(second * 1000)
    return nudged(labels[-1], 1)


def model_reply(body: dict) -> str:
    """A model that mostly copies times it was given, and sometimes gets them wrong."""
    system, prompt = body["messages"][0]["content"], user_text(body)
    if "这一段也会成为视频的一个章节" in system:  # a section (map, first round)
        seen = stamps_in(prompt.split("内容（", 1)[1])
        return (
            f"## 第{seen[0]}开始的一段\n> 这一段从{seen[0]}讲起。\n"
            f"- {seen[0]} 开头\n- {nudged(seen[len(seen) // 3], 1)} 差一秒\n"
            f"- {not_a_line_start_inside(seen)} 编在行与行之间\n- [00:00] 别的段的开头\n"
            f"- {seen[-1]} 结尾\n- {FAR_PAST_THE_END} 视频之外\n"
        )
    if "其中一段做笔记" in system:  # a later map round, merging notes
        seen = stamps_in(prompt.split("本段时间范围", 1)[1].split("\n", 1)[1])
        return f"- {seen[0]} 合并\n- {nudged(seen[-1], 1)} 差一秒\n- {FAR_PAST_THE_END} 视频之外\n"
    if "各段笔记" in prompt:  # the reduce
        seen = stamps_in(prompt.split("各段笔记", 1)[1])
        points = "".join(f"- 📌 {label} 一个要点\n" for label in seen[::7])
        return (
            f"## 摘要\n四小时的深度学习课 {seen[1]}。\n\n## 要点\n{points}"
            f"- 📌 {nudged(seen[-1], 1)} 差一秒\n- 📌 {FAR_PAST_THE_END} 编造的要点\n"
        )
    seen = stamps_in(prompt.split("字幕片段", 1)[1])  # a chat answer
    return (
        f"视频里讲到了 {seen[0]}，后面又说 {nudged(seen[-1], 1)}，"
        f"还有 {not_a_line_start_inside(seen)}，以及 {FAR_PAST_THE_END}。"
    )


LLM_REPLY = model_reply


@pytest.fixture(scope="module")
def long_summary_llm() -> Iterator[FakeOpenAI]:
    """The fake model that wrote the module's summary, with the `llm` fixture's settings, for the module."""
    fake = FakeOpenAI(api_key="test-key", reply=model_reply)
    with LocalServer(fake.app) as server:
        with override_settings(
            OPENAI_BASE_URL=server.url + "/v1",
            OPENAI_API_KEY="test-key",
            CHAT_MODEL="fake-chat",
            LLM_RETRY_ATTEMPTS=3,
            LLM_RETRY_BASE_DELAY_SECONDS=0.01,
        ):
            yield fake


async def _summary_events(part: Any) -> list[dict]:
    return [event async for event in summary_stream(part, "zh", None)]


@pytest.fixture(scope="module")
def long_summary(
    django_db_setup: None, django_db_blocker: Any, long_summary_llm: FakeOpenAI
) -> Iterator[tuple[Any, list[dict]]]:
    """The 4-hour part, ingested, and the events of its map-reduce summary, made once for the module.

    The test database stays open to the module's tests until the end of the module, then it is flushed.
    """
    with django_db_blocker.unblock():
        try:
            part = async_to_sync(ready_part)(CUES, title="深度学习四小时入门", target_tokens=60)
            yield part, async_to_sync(_summary_events)(part)
        finally:
            call_command("flush", verbosity=0, interactive=False)


def wrong_labels_asked_for(llm: FakeOpenAI) -> list[str]:
    """The times in the fake model's replies that are no line's start (what the checks must catch)."""
    replies = [model_reply(request.body) for request in llm.text_requests]
    return [label for reply in replies for label in stamps_in(reply) if label not in CUE_LABELS]


def test_the_transcript_looks_like_four_hours_of_ai_subtitles() -> None:
    gaps = [b.start_ms - a.end_ms for a, b in itertools.pairwise(CUES)]
    assert len(CUES) > 3_000
    assert all(2_000 <= cue.end_ms - cue.start_ms <= 4_000 for cue in CUES)
    assert min(gaps) >= 0 and END_MS > HOURS * 3_600_000 - 4_000
    assert not any(mark in cue.text for cue in CUES for mark in "，。！？,.")
    assert ai_subtitle_cues() == CUES


async def test_every_summary_moment_is_a_line_start(
    long_summary: tuple[Any, list[dict]], long_summary_llm: FakeOpenAI
) -> None:
    _, events = long_summary
    assert len(wrong_labels_asked_for(long_summary_llm)) >= 20  # the model did cite wrong times
    summary = events[-1]["summary"]
    assert summary["mode"] == "map_reduce"
    sections = [event for event in events if event["type"] == "section"]
    assert len(sections) >= 4
    labels = stamps_in(summary["content"])
    assert len(labels) >= 10
    assert [label for label in labels if label not in CUE_LABELS] == []
    assert FAR_PAST_THE_END not in summary["content"]
    key_point_starts = [point["start_ms"] for point in summary["key_points"]]
    assert len(key_point_starts) >= 5
    assert set(key_point_starts) <= CUE_STARTS
    notes = [point["start_ms"] for section in sections for point in section["points"]]
    assert len(notes) >= 3 * len(sections)
    assert set(notes) <= CUE_STARTS


async def test_section_notes_stay_inside_their_section(long_summary: tuple[Any, list[dict]]) -> None:
    _, events = long_summary
    sections = [event for event in events if event["type"] == "section"]
    for section in sections:
        assert all(section["start_ms"] <= point["start_ms"] < section["end_ms"] for point in section["points"])
    assert sections[0]["points"][0]["start_ms"] == CUES[0].start_ms


async def test_chapters_tile_the_part_at_line_starts(long_summary: tuple[Any, list[dict]]) -> None:
    _, events = long_summary
    chapters = events[-1]["summary"]["chapters"]
    assert len(chapters) >= 4
    assert chapters[0]["start_ms"] == 0
    assert chapters[-1]["end_ms"] == END_MS
    assert all(a["end_ms"] == b["start_ms"] for a, b in itertools.pairwise(chapters))
    assert all(chapter["start_ms"] < chapter["end_ms"] for chapter in chapters)
    assert {chapter["start_ms"] for chapter in chapters[1:]} <= CUE_STARTS
    assert {point["start_ms"] for chapter in chapters for point in chapter.get("points", ())} <= CUE_STARTS


async def test_every_mind_map_node_is_a_line_start(long_summary: tuple[Any, list[dict]]) -> None:
    part, events = long_summary
    summary = events[-1]["summary"]
    mindmap = await sync_to_async(part_mindmap)(part=part, language="zh", style=summary["style"])
    chapter_starts = {chapter["start_ms"] for chapter in summary["chapters"]}
    nodes = mindmap["nodes"]
    assert [node["start_ms"] for node in nodes if node["kind"] == "root"] == [0]
    assert {node["start_ms"] for node in nodes if node["kind"] == "chapter"} == chapter_starts
    moments = {node["start_ms"] for node in nodes if node["kind"] in ("point", "detail")}
    assert len(moments) >= 10
    assert moments <= CUE_STARTS
    assert [label for label in stamps_in(mindmap["markdown"]) if label not in CUE_LABELS] == []


async def test_chat_citations_are_line_starts(long_summary: tuple[Any, list[dict]], llm: FakeOpenAI) -> None:
    part, _ = long_summary
    user = await User.objects.acreate(username="learner")
    events = [event async for event in answer_stream(user=user, part=part, question="反向传播怎么理解")]

    assert len(wrong_labels_asked_for(llm)) == 3
    text = "".join(event["text"] for event in events if event["type"] == "token")
    citations = next(event["citations"] for event in events if event["type"] == "citations")
    assert len(citations) >= 2
    assert {citation["start_ms"] for citation in citations} <= CUE_STARTS
    assert stamps_in(text) and [label for label in stamps_in(text) if label not in CUE_LABELS] == []
    assert FAR_PAST_THE_END not in text

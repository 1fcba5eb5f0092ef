"""Offline mode: an extractive summary in the same format, with real timestamps that cover the
timeline, and comment drafts from highlights and key sentences; all labelled offline."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat.highlights import Highlight
from chat.llm import OFFLINE_MODEL
from chat.models import Summary, UsageRecord
from chat.offline import (
    extractive_summary,
    offline_comment_drafts,
    split_sentences,
    textrank,
    tfidf_vectors,
)
from chat.selectors import Passage
from chat.summaries import summary_stream
from chat.tests.test_summaries import chunk_starts, collect, make_part, text_of
from videos.types import Cue

TOPICS = [
    "量子比特可以同时处于零和一的叠加态",
    "量子纠缠让两个粒子的状态互相关联",
    "量子门操作改变量子比特的状态",
    "退相干是量子计算机最大的敌人",
    "纠错码用多个物理比特保护一个逻辑比特",
    "超导量子芯片需要接近绝对零度的低温",
]


def lecture_cues(minutes: int = 30) -> list[Cue]:
    """A lecture that moves through TOPICS in order, a line every 10 s, with filler in between."""
    cues = []
    lines = minutes * 6
    for n in range(lines):
        topic = TOPICS[n * len(TOPICS) // lines]
        text = f"{topic}，这是第{n}句的说明。" if n % 3 else "嗯，我们接着看。"
        cues.append(Cue(n * 10_000, n * 10_000 + 8_000, text))
    return cues


@pytest.fixture
def offline(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""  # and OPENAI_BASE_URL is a closed port: any call would fail


@pytest.mark.django_db(transaction=True)
async def test_offline_summary_has_the_same_sections_with_real_timestamps(offline: None) -> None:
    danmaku = {"bucket_seconds": 10, "counts": [1] * 180, "top_texts": [[["好", 1]]] * 180, "total": 180}
    danmaku["counts"] = [*[1] * 100, 50, *[1] * 79]
    danmaku["top_texts"] = [*[[["好", 1]]] * 100, [["高能", 40], ["卧槽", 10]], *[[["好", 1]]] * 79]
    part = await sync_to_async(make_part)(lecture_cues(), danmaku=danmaku)
    starts = await sync_to_async(chunk_starts)(part)

    events = await collect(summary_stream(part, "zh", None))

    assert events[0]["offline"] is True and events[0]["model"] == OFFLINE_MODEL
    summary = events[-1]["summary"]
    content = summary["content"]
    assert text_of(events) == content
    assert content.startswith("> 🤖 离线摘要")
    assert content.index("## 摘要") < content.index("## 要点") < content.index("## 高能时刻")
    assert "- 🔥 [16:40]" in content and "「高能」" in content
    points = summary["key_points"]
    assert 5 <= len(points) <= 10
    line_at = {cue.start_ms: cue.text for cue in lecture_cues()}
    # Each point is at the start of the very line it quotes, not at its chunk's start.
    assert all(line_at[point["start_ms"]].startswith(point["text"][2:].rstrip("…")) for point in points)
    assert any(point["start_ms"] not in starts for point in points)
    assert [point["start_ms"] for point in points] == sorted(point["start_ms"] for point in points)
    # Spread over the whole lecture: one point in each stretch of the timeline.
    stretch = 30 * 60_000 / len(points)
    assert [int(point["start_ms"] // stretch) for point in points] == list(range(len(points)))
    # Quoted from the transcript, not filler.
    assert all("嗯" not in point["text"] and point["text"].split("，")[0][2:] in TOPICS for point in points)
    abstract = content.split("## 摘要\n", 1)[1].split("\n\n## 要点", 1)[0]
    assert "嗯" not in abstract  # the filler line is said 60 times, but says nothing
    assert sum(topic in abstract for topic in TOPICS) == 3  # three sentences, three different topics
    assert (summary["offline"], summary["mode"], summary["llm_calls"]) == (True, "extractive", 0)
    assert await UsageRecord.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_offline_summaries_are_cached_under_their_own_key(offline: None, settings: Any) -> None:
    part = await sync_to_async(make_part)(lecture_cues(10))
    await collect(summary_stream(part, "en", None))
    again = await collect(summary_stream(part, "en", None))
    assert again[0]["cached"] is True
    summary = await Summary.objects.aget()
    assert (summary.model, summary.prompt_version, summary.offline) == (OFFLINE_MODEL, "offline-v1", True)
    assert summary.content.startswith("> 🤖 Offline summary")
    assert "## 要点 Key points" in summary.content


def test_split_sentences() -> None:
    assert split_sentences("第一句。第二句！Third one. 最后") == ["第一句。", "第二句！", "Third one.", "最后"]


def test_textrank_prefers_the_passage_that_shares_most() -> None:
    texts = ["量子比特和量子纠缠", "量子比特的叠加", "量子纠缠的应用", "今天天气不错"]
    scores = textrank(tfidf_vectors(texts))
    assert scores.index(max(scores)) == 0
    assert scores.index(min(scores)) == 3


def test_extractive_summary_of_a_few_passages() -> None:
    passages = [Passage(n * 60_000, n * 60_000 + 50_000, f"{topic}。嗯。", 20) for n, topic in enumerate(TOPICS[:3])]
    summary = extractive_summary(passages)
    assert [point["start_ms"] for point in summary.key_points] == [0, 60_000, 120_000]
    assert [point["text"] for point in summary.key_points] == [f"{topic}。" for topic in TOPICS[:3]]
    assert summary.abstract
    assert extractive_summary([]).key_points == []


@pytest.mark.parametrize(
    ("tone", "stamps"),
    [
        ("认真", ["[01:05]", "[10:00]"]),  # a key point, then the danmaku moment
        ("幽默", ["[10:00]", "[02:05]"]),
        ("提问", ["[01:05]", "[10:00]"]),
    ],
)
def test_offline_comment_drafts_quote_key_points_and_danmaku(tone: str, stamps: list[str]) -> None:
    points = [{"start_ms": 65_000, "text": "📌 量子比特可以叠加"}, {"start_ms": 125_000, "text": "💡 退相干是敌人"}]
    highlights = [Highlight(600_000, 630_000, 80, 9.0, [("前方高能", 50)])]
    drafts = offline_comment_drafts(tone, title="量子计算入门", key_points=points, highlights=highlights)
    assert len(drafts) == 3
    assert len(set(drafts)) == 3
    assert re.findall(r"\[\d\d:\d\d\]", "".join(drafts)) == stamps
    assert any("前方高能" in draft for draft in drafts)
    assert all(len(draft) <= 80 for draft in drafts)


def test_offline_comment_drafts_without_highlights_or_points() -> None:
    drafts = offline_comment_drafts("认真", title="量子计算入门", key_points=[], highlights=[])
    assert len(drafts) == 3 and all(draft for draft in drafts)

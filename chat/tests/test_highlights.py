"""Danmaku highlights: density peaks well above the part's baseline, with their danmaku."""

from __future__ import annotations

import itertools
import random

import pytest

from chat.highlights import Highlight, danmaku_highlights, highlights_markdown, highlights_prompt_text
from videos.danmaku import danmaku_summary


def summary_with_bursts(bursts: dict[int, tuple[int, str]], *, minutes: int = 20, per_minute: int = 6) -> dict:
    """A part's danmaku summary: chatter evenly spread (with a little jitter) plus `count` copies of
    `text` in the 8 seconds from each burst's second."""
    rng = random.Random(7)
    step = 60 / per_minute
    chatter = ["哈哈", "来了", "好", "前排"]
    items = [(n * step + rng.uniform(0, step), chatter[n % 4]) for n in range(minutes * per_minute)]
    for second, (count, text) in bursts.items():
        items += [(second + rng.uniform(0, 8), text) for _ in range(count)]
    return danmaku_summary(items, duration_seconds=minutes * 60)


def test_bursts_are_found_in_time_order_with_their_danmaku() -> None:
    danmaku = summary_with_bursts({305: (40, "高能预警"), 842: (25, "名场面"), 1000: (60, "哈哈哈哈")})
    highlights = danmaku_highlights(danmaku)
    assert [h.start_ms // 1000 for h in highlights] == [300, 840, 1000]  # the 10 s bucket of each burst
    assert [h.texts[0][0] for h in highlights] == ["高能预警", "名场面", "哈哈哈哈"]
    for highlight, burst in zip(highlights, (40, 25, 60), strict=True):
        assert highlight.count >= burst
        assert 10_000 <= highlight.end_ms - highlight.start_ms <= 30_000
        assert highlight.ratio >= 2.0


@pytest.mark.parametrize("per_minute", [4, 30, 300])
def test_steady_chatter_has_no_highlights(per_minute: int) -> None:
    assert danmaku_highlights(summary_with_bursts({}, per_minute=per_minute)) == []


def test_random_chatter_has_no_highlights() -> None:
    rng = random.Random(11)
    items = [(rng.uniform(0, 1200), "哈哈") for _ in range(240)]  # about 6 per 30 s, Poisson-like
    assert danmaku_highlights(danmaku_summary(items, duration_seconds=1200)) == []


def test_a_burst_only_a_little_above_baseline_is_not_a_highlight() -> None:
    # About 15 danmaku per 30 s window; a burst of 6 more is within the noise.
    assert danmaku_highlights(summary_with_bursts({600: (6, "还行")}, per_minute=30)) == []


def test_nearby_peaks_merge_and_the_limit_keeps_the_strongest() -> None:
    bursts = {100: (30, "一"), 130: (40, "二"), 400: (20, "三"), 700: (50, "四"), 1000: (25, "五")}
    highlights = danmaku_highlights(summary_with_bursts(bursts), limit=3)
    # 一 and 二 are 30 s apart: one highlight, the stronger. Then the three strongest, in time order.
    assert [h.texts[0][0] for h in highlights] == ["二", "四", "五"]
    starts = [h.start_ms for h in highlights]
    assert starts == sorted(starts)
    assert all(b - a >= 60_000 for a, b in itertools.pairwise(starts))


def test_no_or_sparse_danmaku() -> None:
    assert danmaku_highlights({}) == []
    assert danmaku_highlights({"bucket_seconds": 10, "counts": [1, 0, 2], "top_texts": [], "total": 3}) == []


def test_round_trip_and_rendering() -> None:
    highlight = Highlight(start_ms=65_000, end_ms=95_000, count=42, ratio=5.0, texts=[("高能", 30), ("哈哈", 5)])
    assert Highlight.from_dict(highlight.to_dict()) == highlight
    markdown = highlights_markdown([highlight], "高能时刻")
    assert markdown == "## 高能时刻\n- 🔥 [01:05] 42 条弹幕，约为平时的 5 倍：「高能」 「哈哈」\n"
    assert "[01:05]" in highlights_prompt_text([highlight])
    assert highlights_prompt_text([]) == "（无）"

"""Timestamps: the two formats, and every timestamp in generated text ends at a real chunk start."""

from __future__ import annotations

import pytest

from chat.timestamps import (
    StreamingTimestampFixer,
    TimestampChecker,
    cue_lines_text,
    format_timestamp,
    parse_timestamp,
    timestamped_lines,
)
from tests.fakes.openai import fake_tokens
from videos.types import Cue

# Chunks at 0:05, 1:10.4, 2:00 (overlapping the one before), a gap, then 10:00 to 11:00.
SPANS = [(5_000, 75_000), (70_400, 130_000), (120_000, 180_000), (600_000, 660_000)]
CHECKER = TimestampChecker.from_spans(SPANS)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "[00:00]"),
        (5_999, "[00:05]"),
        (70_400, "[01:10]"),
        (3_599_999, "[59:59]"),
        (3_600_000, "[1:00:00]"),
        (7_384_000, "[2:03:04]"),
    ],
)
def test_format_timestamp(ms: int, text: str) -> None:
    assert format_timestamp(ms) == text
    assert parse_timestamp(text) == ms // 1000 * 1000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("12:34", 754_000),
        ("[1:02:03]", 3_723_000),
        ("【05:06】", 306_000),
        ("125:00", 7_500_000),
        ("3:60", None),
        ("1:60:00", None),
        ("abc", None),
        ("[12]", None),
    ],
)
def test_parse_timestamp(text: str, ms: int | None) -> None:
    assert parse_timestamp(text) == ms


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (5_000, 5_000),  # a chunk start
        (70_000, 70_400),  # the second a chunk starts in: kept, at the real start
        (100_000, 70_400),  # inside one chunk: its start
        (125_000, 120_000),  # inside two overlapping chunks: the later start
        (300_000, 180_000 - 60_000),  # in the gap: the nearest start (2:00, not 10:00)
        (500_000, 600_000),  # in the gap, nearer the next chunk
        (0, 5_000),  # before the first chunk: the nearest start
        (660_500, 600_000),  # the last second of the transcript
        (661_000, None),  # past the end: removed
        (3_600_000, None),
    ],
)
def test_checker_corrects_to_chunk_starts(ms: int, expected: int | None) -> None:
    assert CHECKER.correct(ms) == expected


def test_checker_without_chunks_removes_everything() -> None:
    assert TimestampChecker.from_spans([]).correct(0) is None


def test_fix_text_corrects_and_removes() -> None:
    text = "- 🎯 [01:10] 正确\n- 🤔 [01:40] 编造的\n- 👻 [59:00] 不存在\n- 区间 [02:05-02:30] 取开头\n- 全角【10:00】"
    assert CHECKER.fix_text(text) == (
        "- 🎯 [01:10] 正确\n- 🤔 [01:10] 编造的\n- 👻 不存在\n- 区间 [02:00] 取开头\n- 全角[10:00]"
    )


def test_fix_text_leaves_other_brackets_alone() -> None:
    text = "数组 a[1] 和 [注] 以及 [TODO] 还有比分 3:2"
    assert CHECKER.fix_text(text) == text


@pytest.mark.parametrize("split", ["tokens", "characters", "whole"])
def test_streaming_fixer_matches_the_whole_text_fix(split: str) -> None:
    text = "## 要点\n- 🎯 [01:10] 开场 [01:40] 接着 [59:00] 最后 [1:00:00] 完 a[1] [02:0"
    pieces = {"tokens": fake_tokens(text), "characters": list(text), "whole": [text]}[split]
    fixer = StreamingTimestampFixer(CHECKER)
    streamed = "".join(fixer.feed(piece) for piece in pieces) + fixer.flush()
    assert streamed == CHECKER.fix_text(text)
    assert "[01:40]" not in streamed and "[59:00]" not in streamed


def test_streaming_fixer_holds_back_only_the_unsettled_tail() -> None:
    fixer = StreamingTimestampFixer(CHECKER)
    assert fixer.feed("开场 [01") == "开场"
    assert fixer.feed(":40] 然后") == " [01:10] 然后"
    assert fixer.feed("[注释") == "[注释"


def test_timestamped_lines_reads_only_the_named_section() -> None:
    markdown = (
        "## 摘要\n- [00:05] 不是要点\n\n## 要点 Key points\n- 📌 [01:10] 第一点\n* 💡 [10:00]  第二点 [02:00]\n"
        "- 没有时间戳\n- [01:11] 不是块的开头\n\n## 高能时刻\n- 🔥 [02:00] 弹幕\n"
    )
    assert timestamped_lines(markdown, "要点", CHECKER) == [
        {"start_ms": 70_400, "text": "📌 第一点"},
        {"start_ms": 600_000, "text": "💡 第二点"},
    ]


# Lines at 0:02, 0:04.5, 0:07, 1:02.4 and 1:05 (a pause between 0:09 and 1:02.4).
CUES = [(2_000, 4_000), (4_500, 6_800), (7_000, 9_000), (62_400, 64_900), (65_000, 70_000)]
LINES = TimestampChecker.from_cues([(*cue, "字幕") for cue in CUES])


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (4_000, 4_500),  # the second a line starts in: that line
        (62_000, 62_400),
        (5_900, 4_500),  # inside a line: its start
        (9_500, 7_000),  # just after a line: the nearest line
        (60_000, 62_400),  # just before a line
        (0, 2_000),  # the part starts at 0:00
        (70_900, 65_000),  # the last second of the part
        (71_000, None),  # past the end
    ],
)
def test_times_snap_to_the_nearest_line_start(ms: int, expected: int | None) -> None:
    assert LINES.snap_to_cue(ms) == expected


def test_a_section_keeps_only_its_own_lines() -> None:
    section = LINES.within(4_500, 9_000)
    assert [section.snap_to_cue(ms) for ms in (2_000, 4_000, 8_000, 9_900, 62_400)] == [None, 4_500, 7_000, 7_000, None]


def test_a_time_between_excerpts_is_dropped_not_moved() -> None:
    excerpts = TimestampChecker.from_passages([[(2_000, 4_000), (4_500, 6_800)], [(62_400, 64_900)]])
    assert [excerpts.snap_to_cue(ms) for ms in (5_000, 30_000, 63_000, 66_000)] == [4_500, None, 62_400, None]


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("- 👻 [59:00] 编造的", "- 👻 编造的"),
        ("[59:00] 开头", "开头"),
        ("见 [59:00]。", "见。"),
        ("做法（[59:00]）很简单", "做法很简单"),
        ("[00:04]、[59:00] 两处", "[00:04] 两处"),
        ("[59:00]、[00:07] 两处", "[00:07] 两处"),
        ("- [59:00]：收汁", "- 收汁"),
        ("at [59:00], then", "at, then"),
        ("a [59:00] b", "a b"),
        ("a [59:00]\nb", "a\nb"),
    ],
)
def test_a_removed_time_leaves_no_stray_punctuation_or_double_space(text: str, fixed: str) -> None:
    assert LINES.fix_text(text) == fixed


@pytest.mark.parametrize("split", ["tokens", "characters"])
def test_streaming_removal_matches_the_whole_text_fix(split: str) -> None:
    text = "- 👻 [59:00] 编造的\n见 [59:00]。做法（[59:00]）[00:04]、[59:00] 两处\n- [59:00]：收汁 [01:03]"
    pieces = fake_tokens(text) if split == "tokens" else list(text)
    fixer = StreamingTimestampFixer(LINES)
    assert "".join(fixer.feed(piece) for piece in pieces) + fixer.flush() == LINES.fix_text(text)


def test_cue_lines_show_each_line_start_and_merge_short_lines() -> None:
    cues = [Cue(2_000, 4_000, "今天做红烧肉"), Cue(4_500, 6_800, "先切块"), Cue(3_700_000, 3_702_000, "出锅。")]
    assert cue_lines_text(cues, max_cues=1, min_tokens=100) == "[00:02] 今天做红烧肉\n[00:04] 先切块\n[1:01:40] 出锅。"
    assert cue_lines_text(cues, max_cues=2, min_tokens=100) == "[00:02] 今天做红烧肉 先切块\n[1:01:40] 出锅。"
    assert cue_lines_text(cues, max_cues=3, min_tokens=1) == "[00:02] 今天做红烧肉\n[00:04] 先切块\n[1:01:40] 出锅。"

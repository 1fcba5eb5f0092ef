"""Subtitle fragments → sentences → token-bounded, overlapping chunks with real times."""

from __future__ import annotations

import random
import statistics
from itertools import pairwise
from typing import Any

import pytest

from core.tokens import count_tokens
from videos.chunking import chunks_for_transcript, join_lines, sentences_from_cues
from videos.types import ChunkDraft, Cue, Transcript

WORDS = (
    "大家 好 今天 我们 来 聊一聊 量子 计算机 的 基本 原理 以及 它 为什么 这么 快 然后 看看 实际 应用 "
    "这个 问题 其实 非常 有意思 经典 比特 叠加 纠缠 测量 算法 误差 纠错 超导 离子阱 光子"
).split()


def cue(start_s: float, end_s: float, text: str) -> Cue:
    return Cue(start_ms=round(start_s * 1000), end_ms=round(end_s * 1000), text=text)


def synthetic_transcript(lines: int, seed: int = 1) -> Transcript:
    """Bilibili-like fragments: 1–3 s, mostly unpunctuated, each tagged 第N号 so it is unique."""
    rng = random.Random(seed)
    cues, time_ms = [], 0
    for number in range(lines):
        text = "".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) + f"第{number}号"
        if rng.random() < 0.2:
            text += rng.choice("。？！")
        duration = rng.randint(1000, 3000)
        cues.append(Cue(start_ms=time_ms, end_ms=time_ms + duration, text=text))
        time_ms += duration + rng.choice([0, 80, 200, 400, 1500])
    return Transcript(cues=cues, source="subtitle")


def shared_length(previous: str, following: str, boundaries: str = "号。？！") -> int:
    """How many leading characters of `following` the end of `previous` repeats, counting only
    overlaps that end at a line boundary (so a repeated single character is no overlap).
    """
    for length in range(len(following), 0, -1):
        if previous.endswith(following[:length]) and following[length - 1] in boundaries:
            return length
    return 0


@pytest.fixture(scope="module")
def long_transcript() -> Transcript:
    return synthetic_transcript(2000)


@pytest.fixture(scope="module")
def long_chunks(long_transcript: Transcript) -> list[ChunkDraft]:
    return chunks_for_transcript(long_transcript, target_tokens=300, max_tokens=500, overlap_tokens=40)


# --- Sentences --------------------------------------------------------------------------------


def test_fragments_merge_into_sentences_at_punctuation() -> None:
    cues = [
        cue(0.0, 1.2, "大家好"),
        cue(1.2, 2.5, "我是小明。"),
        cue(2.6, 4.0, "今天我们聊聊"),
        cue(4.0, 5.5, "量子计算机！"),
        cue(5.6, 7.0, "它为什么快？"),
    ]
    assert sentences_from_cues(cues) == [
        cue(0.0, 2.5, "大家好 我是小明。"),
        cue(2.6, 5.5, "今天我们聊聊 量子计算机！"),
        cue(5.6, 7.0, "它为什么快？"),
    ]


def test_a_pause_ends_a_sentence_without_punctuation() -> None:
    cues = [cue(0, 1, "第一句话"), cue(1.3, 2, "还没说完"), cue(3.0, 4, "这是第二句"), cue(4.1, 5, "说完了")]
    sentences = sentences_from_cues(cues, pause_ms=800)
    assert [s.text for s in sentences] == ["第一句话 还没说完", "这是第二句 说完了"]
    assert [(s.start_ms, s.end_ms) for s in sentences] == [(0, 2000), (3000, 5000)]


def test_sentence_length_is_capped_but_a_long_line_stays_whole() -> None:
    cues = [cue(index, index + 1, "一二三四五六七八九十") for index in range(10)]
    cues.append(cue(10, 20, "长" * 50))
    sentences = sentences_from_cues(cues, max_chars=25)
    assert [len(s.text) for s in sentences] == [21] * 5 + [50]  # two lines and the space between them
    assert "".join(s.text for s in sentences).replace(" ", "") == "".join(c.text for c in cues)


def test_lines_are_joined_with_a_space_unless_one_ends_in_cjk_punctuation() -> None:
    cues = [cue(0, 1, "Hello"), cue(1, 2, "world."), cue(2, 3, "我用"), cue(3, 4, "Python"), cue(4, 5, "写代码。")]
    assert [s.text for s in sentences_from_cues(cues)] == ["Hello world.", "我用 Python 写代码。"]


def test_blank_lines_are_skipped_and_lines_trimmed() -> None:
    cues = [cue(0, 1, "  你好 "), cue(1, 1.2, "   "), cue(1.3, 2, "世界。")]
    assert sentences_from_cues(cues) == [cue(0, 2, "你好 世界。")]


# --- Chunks of a long transcript --------------------------------------------------------------


def test_no_chunk_is_above_max_and_typical_chunks_are_near_target(long_chunks: list[ChunkDraft]) -> None:
    tokens = [chunk.token_count for chunk in long_chunks]
    assert max(tokens) <= 500
    assert all(count >= 150 for count in tokens[:-1])
    assert 240 <= statistics.median(tokens) <= 320
    assert all(chunk.token_count == count_tokens(chunk.text) for chunk in long_chunks)


def test_chunk_times_are_the_real_start_and_end_of_their_lines(
    long_transcript: Transcript, long_chunks: list[ChunkDraft]
) -> None:
    starts = {c.start_ms: c for c in long_transcript.cues}
    ends = {c.end_ms: c for c in long_transcript.cues}
    for chunk in long_chunks:
        assert chunk.text.startswith(starts[chunk.start_ms].text)
        assert chunk.text.endswith(ends[chunk.end_ms].text)
    assert [chunk.start_ms for chunk in long_chunks] == sorted(chunk.start_ms for chunk in long_chunks)


def test_consecutive_chunks_overlap_by_a_few_trailing_sentences(long_chunks: list[ChunkDraft]) -> None:
    overlaps = []
    for previous, chunk in pairwise(long_chunks):
        shared = shared_length(previous.text, chunk.text)
        overlaps.append(count_tokens(chunk.text[:shared]))
        assert chunk.start_ms < previous.end_ms if shared else chunk.start_ms >= previous.end_ms
    assert max(overlaps) <= 40
    assert sum(1 for tokens in overlaps if tokens > 0) >= 0.9 * len(overlaps)


def test_no_text_is_lost(long_transcript: Transcript, long_chunks: list[ChunkDraft]) -> None:
    all_text = "\n".join(chunk.text for chunk in long_chunks)
    missing = [c.text for c in long_transcript.cues if c.text not in all_text]
    assert missing == []
    assert len(long_transcript.cues) == 2000


def test_chunking_is_deterministic(long_transcript: Transcript, long_chunks: list[ChunkDraft]) -> None:
    again = chunks_for_transcript(synthetic_transcript(2000), target_tokens=300, max_tokens=500, overlap_tokens=40)
    assert again == long_chunks


def test_defaults_come_from_settings(settings: Any) -> None:
    settings.CHUNK_TARGET_TOKENS, settings.CHUNK_MAX_TOKENS, settings.CHUNK_OVERLAP_TOKENS = 60, 80, 0
    chunks = chunks_for_transcript(synthetic_transcript(200, seed=2))
    assert max(chunk.token_count for chunk in chunks) <= 80
    assert statistics.median(chunk.token_count for chunk in chunks) <= 60
    text = "".join(chunk.text for chunk in chunks)
    assert sum(text.count(f"第{n}号") for n in range(200)) == 200  # no overlap: each line once


# --- Oversized sentences and lines ------------------------------------------------------------


def long_line(clauses: int) -> str:
    rng = random.Random(5)
    return "".join("".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + "，" for _ in range(clauses))


def test_an_oversized_line_is_split_with_interpolated_times() -> None:
    text = long_line(300)
    transcript = Transcript(cues=[cue(0, 2, "开场白。"), cue(10, 610, text), cue(611, 612, "结束。")], source="asr")
    chunks = chunks_for_transcript(transcript, target_tokens=200, max_tokens=300, overlap_tokens=0)

    assert max(chunk.token_count for chunk in chunks) <= 300
    assert "".join(chunk.text for chunk in chunks) == "开场白。" + text + "结束。"
    inner = [chunk for chunk in chunks if 10_000 <= chunk.start_ms and chunk.end_ms <= 610_000]
    assert len(inner) >= 3
    assert all(a.end_ms == b.start_ms for a, b in pairwise(inner))
    for chunk in inner:  # times follow the position of the text inside the line
        position = text.index(chunk.text[:20])
        assert chunk.start_ms == pytest.approx(10_000 + 600_000 * position / len(text), abs=1)
    assert chunks[0].start_ms == 0
    assert chunks[-1].end_ms == 612_000


def test_an_oversized_line_still_overlaps_and_stays_within_max() -> None:
    text = long_line(300)
    transcript = Transcript(cues=[cue(0, 600, text)], source="imported")
    chunks = chunks_for_transcript(transcript, target_tokens=200, max_tokens=300, overlap_tokens=40)
    assert max(chunk.token_count for chunk in chunks) <= 300
    for previous, chunk in pairwise(chunks):
        shared = shared_length(previous.text, chunk.text, "，")  # the previous chunk's last piece
        assert 0 < count_tokens(chunk.text[:shared]) <= 40
    assert text.startswith(chunks[0].text) and text.endswith(chunks[-1].text)


def test_an_oversized_sentence_falls_back_to_its_real_lines() -> None:
    lines = [cue(index, index + 1, f"这是第{index}行没有标点的字幕") for index in range(8)]
    chunks = chunks_for_transcript(
        Transcript(cues=lines, source="subtitle"), target_tokens=30, max_tokens=40, overlap_tokens=0
    )
    assert max(count_tokens(sentence.text) for sentence in sentences_from_cues(lines)) > 40
    assert max(chunk.token_count for chunk in chunks) <= 40
    assert len(chunks) > 1
    assert {chunk.start_ms for chunk in chunks} <= {line.start_ms for line in lines}
    assert {chunk.end_ms for chunk in chunks} <= {line.end_ms for line in lines}
    assert "".join(chunk.text for chunk in chunks).replace(" ", "") == "".join(line.text for line in lines)


def test_english_transcript_chunks_keep_spaces_between_words() -> None:
    rng = random.Random(3)
    words = "the quantum computer uses qubits that can be in superposition and entangled states".split()
    lines = [cue(i, i + 1, " ".join(rng.choice(words) for _ in range(6))) for i in range(300)]
    chunks = chunks_for_transcript(Transcript(cues=lines, source="subtitle"), target_tokens=100, max_tokens=150)
    assert max(chunk.token_count for chunk in chunks) <= 150
    assert all(line.text in "\n".join(chunk.text for chunk in chunks) for line in lines)
    assert "  " not in chunks[0].text and " the" in chunks[0].text


def test_empty_transcript_and_bad_limits() -> None:
    assert chunks_for_transcript(Transcript(cues=[], source="subtitle")) == []
    transcript = synthetic_transcript(5)
    with pytest.raises(ValueError, match="overlap"):
        chunks_for_transcript(transcript, target_tokens=100, max_tokens=50)
    with pytest.raises(ValueError, match="overlap"):
        chunks_for_transcript(transcript, target_tokens=100, max_tokens=200, overlap_tokens=100)


def test_cjk_lines_after_punctuation_join_without_a_space() -> None:
    cues = [cue(0, 1, "先切肉，"), cue(1, 2, "再焯水"), cue(2, 3, "然后下锅。")]
    assert [s.text for s in sentences_from_cues(cues)] == ["先切肉，再焯水 然后下锅。"]


def test_join_lines_keeps_the_boundary_of_unpunctuated_lines() -> None:
    assert (
        join_lines(["  今天做红烧肉 ", "", "先把五花肉切块。", "Then", "stir."])
        == "今天做红烧肉 先把五花肉切块。Then stir."
    )

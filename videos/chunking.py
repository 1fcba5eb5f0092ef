"""Transcript → sentences → token-bounded chunks that overlap a little.

Bilibili subtitle lines are fragments of 1–3 seconds, often without punctuation. They are first
merged into sentences (at sentence-ending punctuation, at a pause between lines, or when a
sentence grows too long), then sentences are packed into chunks of about CHUNK_TARGET_TOKENS and
never more than CHUNK_MAX_TOKENS. The last few sentences of a chunk (CHUNK_OVERLAP_TOKENS worth)
start the next one, so an idea cut at a boundary is still whole in one chunk.

A sentence too big for a chunk is split back into its lines, and a line too big for a chunk is
cut into pieces at clause breaks, with times interpolated inside the line. Otherwise a chunk's
start and end are the real start of its first line and the real end of its last line.
Everything here is deterministic, and no transcript text is dropped.

Lines keep a boundary inside chunk text: lines that end without punctuation (as AI subtitles
do) are joined with one space, CJK lines included, so the model and keyword search see where one
line ends (videos.search_text still makes the bigram across such a space).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from core.tokens import count_tokens, prefix_within_tokens
from videos.types import ChunkDraft, Cue, Transcript

SENTENCE_END_CHARS = "。！？!?；;….．"
CLOSING_CHARS = "\"'”’」』）)】》]"
CLAUSE_BREAK_CHARS = "。！？!?；;…，,、：: \n\t"
# A gap of this many milliseconds between two lines ends a sentence.
DEFAULT_PAUSE_MS = 800
# Lines are not merged into a sentence past this many characters.
DEFAULT_SENTENCE_MAX_CHARS = 80
# CJK ideographs, kana, hangul, CJK and full-width punctuation: no spaces between these.
_CJK_RANGES = ((0x2E80, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))
_CJK_SUPPLEMENTARY_START = 0x20000

GlueKind = Literal["sentence", "line", "piece"]


@dataclass(frozen=True)
class _Unit:
    """What chunks are packed from: a sentence, one line of it, or a piece of one line."""

    cues: tuple[Cue, ...]  # real lines (a piece is a line with interpolated times)
    text: str
    glue: str  # goes before `text` when this unit follows the previous one in a chunk
    tokens: int

    @property
    def start_ms(self) -> int:
        return self.cues[0].start_ms

    @property
    def end_ms(self) -> int:
        return max(cue.end_ms for cue in self.cues)


# --- Sentences --------------------------------------------------------------------------------


def sentences_from_cues(
    cues: Iterable[Cue], *, pause_ms: int = DEFAULT_PAUSE_MS, max_chars: int = DEFAULT_SENTENCE_MAX_CHARS
) -> list[Cue]:
    """Merge subtitle fragments into sentences, each spanning its lines' real start and end.

    A sentence ends after a line that ends with 。！？!?；;… or a full stop, before a gap of at
    least `pause_ms`, and before a line that would take it past `max_chars` characters (a single
    longer line stays whole).
    """
    return [_sentence_cue(group) for group in _sentence_groups(cues, pause_ms, max_chars)]


def _sentence_groups(cues: Iterable[Cue], pause_ms: int, max_chars: int) -> list[list[Cue]]:
    groups: list[list[Cue]] = []
    current: list[Cue] = []
    length = 0
    for cue in _clean_cues(cues):
        paused = bool(current) and cue.start_ms - current[-1].end_ms >= pause_ms
        if current and (paused or length + len(cue.text) > max_chars):
            groups.append(current)
            current, length = [], 0
        current.append(cue)
        length += len(cue.text)
        if _ends_sentence(cue.text):
            groups.append(current)
            current, length = [], 0
    if current:
        groups.append(current)
    return groups


def _clean_cues(cues: Iterable[Cue]) -> Iterator[Cue]:
    for cue in cues:
        text = cue.text.strip()
        if text:
            yield cue if text == cue.text else Cue(start_ms=cue.start_ms, end_ms=cue.end_ms, text=text)


def _sentence_cue(group: Sequence[Cue]) -> Cue:
    return Cue(start_ms=group[0].start_ms, end_ms=max(cue.end_ms for cue in group), text=_join_lines(group))


def _join_lines(cues: Sequence[Cue]) -> str:
    text = cues[0].text
    for cue in cues[1:]:
        text += _glue(text, cue.text, "line") + cue.text
    return text


def _ends_sentence(text: str) -> bool:
    stripped = text.rstrip(CLOSING_CHARS)
    return bool(stripped) and stripped[-1] in SENTENCE_END_CHARS


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return code >= _CJK_SUPPLEMENTARY_START or any(low <= code <= high for low, high in _CJK_RANGES)


def _glue(left: str, right: str, kind: GlueKind) -> str:
    """The separator between two texts: a space between Latin words; inside Chinese, none after
    punctuation and one space after a line or sentence that ends without it, so the line
    boundary of unpunctuated (AI) subtitles stays visible. Pieces of one line join directly.
    """
    if kind == "piece" or not left or not right or left[-1].isspace() or right[0].isspace():
        return ""
    if not unicodedata.category(left[-1]).startswith("P"):
        return " "
    return "" if _is_cjk(left[-1]) or _is_cjk(right[0]) else " "


def join_lines(texts: Iterable[str]) -> str:
    """Transcript lines joined into one text the way chunks join them (see `_glue`)."""
    joined = ""
    for text in (text.strip() for text in texts):
        if text:
            joined += _glue(joined, text, "line") + text
    return joined


# --- Chunks -----------------------------------------------------------------------------------


def chunks_for_transcript(
    transcript: Transcript,
    *,
    target_tokens: int | None = None,
    max_tokens: int | None = None,
    overlap_tokens: int | None = None,
) -> list[ChunkDraft]:
    """Pack the transcript's sentences into chunks of about `target_tokens`, never above `max_tokens`.

    Defaults come from CHUNK_TARGET_TOKENS, CHUNK_MAX_TOKENS and CHUNK_OVERLAP_TOKENS.
    """
    target = target_tokens if target_tokens is not None else settings.CHUNK_TARGET_TOKENS
    maximum = max_tokens if max_tokens is not None else settings.CHUNK_MAX_TOKENS
    overlap = overlap_tokens if overlap_tokens is not None else settings.CHUNK_OVERLAP_TOKENS
    if not 0 <= overlap < target <= maximum:
        raise ValueError(f"need 0 <= overlap < target <= max tokens, got {overlap}, {target}, {maximum}")
    piece_tokens = max(overlap, target // 8, 1)
    units = list(
        _units(_sentence_groups(transcript.cues, DEFAULT_PAUSE_MS, DEFAULT_SENTENCE_MAX_CHARS), maximum, piece_tokens)
    )
    return [_draft(chunk) for chunk in _pack(units, target, maximum, overlap)]


def _units(groups: Iterable[list[Cue]], max_tokens: int, piece_tokens: int) -> Iterator[_Unit]:
    """Sentences that fit in a chunk, otherwise their lines, otherwise pieces of those lines."""
    previous = ""
    for group in groups:
        for cues, text, kind in _group_parts(group, max_tokens, piece_tokens):
            yield _Unit(cues=cues, text=text, glue=_glue(previous, text, kind), tokens=count_tokens(text))
            previous = text


def _group_parts(
    group: list[Cue], max_tokens: int, piece_tokens: int
) -> Iterator[tuple[tuple[Cue, ...], str, GlueKind]]:
    sentence = _join_lines(group)
    if count_tokens(sentence) <= max_tokens:
        yield tuple(group), sentence, "sentence"
        return
    for index, cue in enumerate(group):
        kind: GlueKind = "sentence" if index == 0 else "line"
        if count_tokens(cue.text) <= max_tokens:
            yield (cue,), cue.text, kind
            continue
        for number, piece in enumerate(_pieces(cue, piece_tokens)):
            yield (piece,), piece.text, kind if number == 0 else "piece"


def _pieces(cue: Cue, limit: int) -> Iterator[Cue]:
    """Cut one long line into pieces of at most `limit` tokens, preferring clause breaks."""
    text, start = cue.text, 0
    while start < len(text):
        end = start + _piece_length(text[start:], limit)
        yield Cue(start_ms=_time_at(cue, start), end_ms=_time_at(cue, end), text=text[start:end])
        start = end


def _piece_length(text: str, limit: int) -> int:
    window = text[: limit * 16]  # a token is rarely longer than 16 characters
    length = max(1, prefix_within_tokens(window, limit))
    if length >= len(text):
        return len(text)
    for index in range(length - 1, length // 2, -1):
        if text[index] in CLAUSE_BREAK_CHARS:
            return index + 1
    return length


def _time_at(cue: Cue, offset: int) -> int:
    """The time of a character offset inside a line, spreading the line's span evenly over its text."""
    return cue.start_ms + (cue.end_ms - cue.start_ms) * offset // len(cue.text)


def _pack(units: list[_Unit], target: int, maximum: int, overlap: int) -> list[list[_Unit]]:
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    current_tokens = 0
    for unit in units:
        with_unit = _tokens([*current, unit])
        too_big = with_unit > maximum or (with_unit > target and current_tokens >= target // 2)
        if current and too_big:
            chunks.append(current)
            current = _overlap_tail(current, overlap)
            while current and _tokens([*current, unit]) > maximum:
                current = current[1:]
            with_unit = _tokens([*current, unit])
        current.append(unit)
        current_tokens = with_unit
    if current:
        chunks.append(current)
    return chunks


def _overlap_tail(chunk: list[_Unit], overlap: int) -> list[_Unit]:
    """The trailing units of a chunk worth at most `overlap` tokens (never the whole chunk).

    When even the last sentence is too long, its trailing lines are carried instead.
    """
    tail: list[_Unit] = []
    for unit in reversed(chunk[1:]):
        if unit.tokens > overlap or _tokens([unit, *tail]) > overlap:
            break
        tail.insert(0, unit)
    if not tail and overlap > 0:
        partial = _trailing_lines(chunk[-1], overlap)
        tail = [partial] if partial else []
    return tail


def _trailing_lines(unit: _Unit, overlap: int) -> _Unit | None:
    for first in range(1, len(unit.cues)):
        text = _join_lines(unit.cues[first:])
        tokens = count_tokens(text)
        if tokens <= overlap:
            return _Unit(cues=unit.cues[first:], text=text, glue="", tokens=tokens)
    return None


def _text(units: list[_Unit]) -> str:
    return (units[0].text + "".join(unit.glue + unit.text for unit in units[1:])).strip()


def _tokens(units: list[_Unit]) -> int:
    return count_tokens(_text(units)) if units else 0


def _draft(units: list[_Unit]) -> ChunkDraft:
    text = _text(units)
    return ChunkDraft(
        start_ms=units[0].start_ms,
        end_ms=max(unit.end_ms for unit in units),
        text=text,
        token_count=count_tokens(text),
    )

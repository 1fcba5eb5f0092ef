"""Planning a summary: the headings and language instructions, the prompt values, and cutting a
long transcript (or the notes on it) into sections that each fit a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat.highlights import Highlight, highlights_prompt_text
from chat.selectors import PartTranscript, Passage
from chat.timestamps import cue_lines_text, format_timestamp
from core.tokens import count_tokens

LANGUAGE_INSTRUCTIONS = {
    "zh": "用简体中文输出。",
    "en": "Write the summary in English (keep the section headings exactly as given).",
    "auto": "使用字幕本身的语言输出（字幕是英文就用英文，是中文就用中文）。",
}
# (abstract, key points, highlights) headings; each starts with the Chinese name parsers look for.
HEADINGS = {
    "zh": ("摘要", "要点", "高能时刻"),
    "auto": ("摘要", "要点", "高能时刻"),
    "en": ("摘要 Abstract", "要点 Key points", "高能时刻 Highlights"),
}


@dataclass(frozen=True)
class Note:
    """A section of transcript, or the notes on one, with its time range."""

    start_ms: int
    end_ms: int
    text: str

    @property
    def tokens(self) -> int:
        return count_tokens(self.text)


def prompt_values(transcript: PartTranscript, language: str, highlights: list[Highlight]) -> dict[str, str]:
    """What the summary and reduce prompts are filled with, besides the transcript or notes."""
    abstract_heading, points_heading, _ = HEADINGS[language]
    return {
        "title": transcript.title,
        "part_title": transcript.part_title or transcript.title,
        "language_instruction": LANGUAGE_INSTRUCTIONS[language],
        "abstract_heading": abstract_heading,
        "points_heading": points_heading,
        "highlights": highlights_prompt_text(highlights),
    }


def budget_sections[T: (Passage, Note)](items: Sequence[T], max_tokens: int) -> list[list[T]]:
    """Consecutive groups of about equal size, each within `max_tokens` (an item bigger than
    that goes alone). Every item is in exactly one group, in order."""
    sizes = [item.tokens for item in items]
    total = sum(sizes)
    if not items:
        return []
    target = total / max(1, -(-total // max(1, max_tokens)))
    groups: list[list[T]] = []
    current: list[T] = []
    current_tokens = 0
    for item, size in zip(items, sizes, strict=True):
        if current and (current_tokens + size > max_tokens or current_tokens >= target):
            groups.append(current)
            current, current_tokens = [], 0
        current.append(item)
        current_tokens += size
    groups.append(current)
    return groups


# A summary prompt line gathers up to this many cues until it holds LINE_MIN_TOKENS: each line's
# time costs 5 to 8 tokens, so short AI-subtitle lines share one, and a cited line starts at most
# two cues before the words it names.
SUMMARY_LINE_CUES = 3
LINE_MIN_TOKENS = 48


def passages_text(passages: Sequence[Passage]) -> str:
    """The transcript as the model reads it: one line per cue (short cues merged), each line led
    by its first cue's start in the form the model must cite."""
    cues = [cue for passage in passages for cue in passage.lines]
    return cue_lines_text(cues, max_cues=SUMMARY_LINE_CUES, min_tokens=LINE_MIN_TOKENS)


def notes_text(notes: Sequence[Note]) -> str:
    return "\n\n".join(
        f"### {format_timestamp(note.start_ms)}–{format_timestamp(note.end_ms)}\n{note.text}" for note in notes
    )

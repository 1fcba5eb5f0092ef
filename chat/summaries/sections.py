"""The sections of a long part's map phase, made visible as they finish.

The first map round asks each section for a chapter title (`## …`), a one-line gist (`> …`) and
its notes (`- [mm:ss] …`), prompt `summary_section`. As soon as a section and every earlier one
are done, the section is handed to the run (`section_done`), which saves it and publishes

    {"type": "section", "index", "start_ms", "end_ms", "title", "gist", "points": [{"start_ms", "text"}]}

Section spans tile the part like chapters do (chat.chapters): the first starts at 0, each ends
where the next starts (a real cue start), the last at the part's end. So a long part's chapters
are its sections, at no extra LLM call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Protocol

from chat.chapters import GIST_MAX_CHARS, TITLE_MAX_CHARS, ChapterDraft, clip
from chat.summaries.planning import Note
from chat.timestamps import TIMESTAMP_PATTERN, TimestampChecker

SECTION_PROMPT = "summary_section"
SECTION_PROMPT_VERSION = "v1"
# A fallback title (no `## ` line in the notes) is cut to this many characters.
FALLBACK_TITLE_CHARS = 16
_BULLET = re.compile(r"^\s*[-*•]\s+")


class SectionRun(Protocol):
    """What publishing sections needs of the generation it runs in."""

    part_end_ms: int

    async def section_done(self, section: dict) -> None: ...


def section_spans(sections: Sequence[Note], checker: TimestampChecker, end_ms: int) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of each section: tiling [0, end_ms], every later start a cue start."""
    starts = [0]
    for section in sections[1:]:
        snapped = checker.snap_to_cue(section.start_ms)
        starts.append(max(starts[-1], section.start_ms if snapped is None else snapped))
    return list(zip(starts, [*starts[1:], max(end_ms, starts[-1])], strict=True))


def parse_section_notes(text: str, transcript: str, checker: TimestampChecker) -> tuple[str, str, list[dict], str]:
    """(title, gist, points, notes for the reducer) from one section's checked notes.

    A missing title falls back to the first point (or the first transcript line), a missing gist
    to the first point; points are the list items with a timestamp, at the start of the cue it
    names (`checker`: the section's cues)."""
    title = gist = ""
    points: list[dict] = []
    bullets: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not title:
            title = _plain(stripped.lstrip("#"))
        elif stripped.startswith(">") and not gist:
            gist = _plain(stripped.lstrip(">"))
        elif _BULLET.match(stripped):
            bullets.append(stripped)
            match = TIMESTAMP_PATTERN.search(stripped)
            start = checker.start_for_label(match.group("start")) if match else None
            if start is not None:
                points.append({"start_ms": start, "text": _plain(_BULLET.sub("", stripped))})
    first = points[0]["text"] if points else _plain(transcript.splitlines()[0] if transcript else "")
    title = clip(title or first, TITLE_MAX_CHARS if title else FALLBACK_TITLE_CHARS)
    gist = clip(gist or first, GIST_MAX_CHARS)
    reducer_notes = "\n".join([f"{title}：{gist}" if gist else title, *bullets])
    return title, gist, points, reducer_notes


def _plain(text: str) -> str:
    """Text without timestamps, Markdown emphasis or doubled spaces."""
    text = TIMESTAMP_PATTERN.sub("", text).replace("**", "")
    return re.sub(r"\s{2,}", " ", text).strip(" \t:：-—")


class SectionStream:
    """Hands the first map round's sections to the run in order, each as soon as it may go."""

    def __init__(self, run: SectionRun, sections: Sequence[Note], checker: TimestampChecker) -> None:
        self.run = run
        self.spans = section_spans(sections, checker, run.part_end_ms)
        self.finished: dict[int, dict] = {}
        self.sent = 0
        self._sending = asyncio.Lock()

    async def finish(self, index: int, notes: str, transcript: str, checker: TimestampChecker) -> str:
        """Record section `index`'s checked notes (`checker`: its cues); send every section now
        ready, in order; return the notes for the reducer."""
        title, gist, points, reducer_notes = parse_section_notes(notes, transcript, checker)
        start_ms, end_ms = self.spans[index]
        self.finished[index] = {
            "type": "section",
            "index": index,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "title": title,
            "gist": gist,
            "points": points,
        }
        async with self._sending:  # one sender at a time, so sections go out in order, once each
            while self.sent in self.finished:
                self.sent += 1
                await self.run.section_done(self.finished[self.sent - 1])
        return reducer_notes


def section_drafts(sections: Sequence[dict]) -> list[ChapterDraft]:
    """The sections as chapter drafts (chat.chapters), notes kept as their points."""
    return [
        ChapterDraft(section["start_ms"], section["title"], section["gist"], tuple(section.get("points", ())))
        for section in sections
    ]

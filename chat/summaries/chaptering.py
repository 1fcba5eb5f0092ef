"""A summary's chapters (chat.chapters), from the most trusted source the part has:

1. the uploader's chapters (`VideoPart.uploader_chapters`): no LLM call;
2. a long part's map sections (chat.summaries.sections): no extra LLM call;
3. a short part: one structured-output call (`response_format` with a JSON schema, prompt
   `summary_chapters`) that reads the summary and an outline of the transcript (each passage's
   start and first OUTLINE_CHARS characters, at most OUTLINE_SHARE of the transcript), not the
   transcript again;
4. offline, or when that call fails or says nothing usable: extractive chapters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from typing import Any, Protocol

from chat.chapters import (
    EXTRACTIVE,
    LLM,
    MIN_UPLOADER_CHAPTERS,
    SECTIONS,
    UPLOADER,
    ChapterDraft,
    chapters_tiled,
    extractive_drafts,
    uploader_drafts,
)
from chat.llm import ChatStream, LLMError
from chat.prompts import load_prompt
from chat.selectors import PartTranscript
from chat.summaries.planning import LANGUAGE_INSTRUCTIONS
from chat.summaries.sections import section_drafts
from chat.timestamps import TimestampChecker, format_timestamp, parse_timestamp

logger = logging.getLogger(__name__)

CHAPTERS_PROMPT, CHAPTERS_PROMPT_VERSION = "summary_chapters", "v1"
OUTLINE_CHARS = 30  # of each passage's opening
OUTLINE_SHARE = 0.1  # the outline's characters, at most, as a share of the transcript's
MIN_OUTLINE_LINES = 6
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "chapters",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "chapters": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "start": {"type": "string", "description": "mm:ss or h:mm:ss, copied from the input"},
                            "title": {"type": "string"},
                            "gist": {"type": "string"},
                        },
                        "required": ["start", "title", "gist"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["chapters"],
            "additionalProperties": False,
        },
    },
}


class StructuredStream(ChatStream):
    """A ChatStream whose request asks for structured output (`response_format`)."""

    def __init__(self, *args: Any, response_format: dict, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_format = response_format

    def _request(self) -> dict[str, Any]:
        return {**super()._request(), "response_format": self.response_format}


class ChapterRun(Protocol):
    """What making chapters needs of the generation it runs in."""

    part_end_ms: int
    sections: list[dict]

    async def complete_structured(self, messages: list[dict], response_format: dict) -> ChatStream: ...


async def summary_chapters(
    run: ChapterRun,
    *,
    transcript: PartTranscript,
    checker: TimestampChecker,
    uploader_chapters: list[dict],
    summary_text: str,
    key_points: list[dict],
    language: str,
    offline: bool,
) -> list[dict]:
    """The chapters tiling the part (see the module docstring for the order of sources)."""
    end_ms = run.part_end_ms
    notes = [point for section in run.sections for point in section.get("points", ())]
    if uploader_chapters:
        drafts = uploader_drafts(uploader_chapters, key_points=key_points, notes=notes, texts=transcript.passages)
        chapters = chapters_tiled(drafts, checker=checker, end_ms=end_ms, source=UPLOADER)
        if len(chapters) >= MIN_UPLOADER_CHAPTERS:
            return chapters
    if run.sections:
        return chapters_tiled(section_drafts(run.sections), checker=checker, end_ms=end_ms, source=SECTIONS)
    if not offline:
        drafts = await _llm_drafts(run, transcript, summary_text, language)
        chapters = chapters_tiled(drafts, checker=checker, end_ms=end_ms, source=LLM)
        if chapters:
            return chapters
    drafts = await asyncio.to_thread(extractive_drafts, transcript.passages, end_ms=end_ms)
    drafts = drafts or [ChapterDraft(0, transcript.part_title or transcript.title)]
    return chapters_tiled(drafts, checker=checker, end_ms=end_ms, source=EXTRACTIVE)


async def _llm_drafts(run: ChapterRun, transcript: PartTranscript, summary_text: str, language: str) -> list:
    """The structured call's chapters; [] when it fails or its reply cannot be read."""
    messages = load_prompt(CHAPTERS_PROMPT, CHAPTERS_PROMPT_VERSION).messages(
        title=transcript.title,
        part_title=transcript.part_title or transcript.title,
        language_instruction=LANGUAGE_INSTRUCTIONS[language],
        chapter_count=chapter_count_hint(run.part_end_ms),
        summary=summary_text.strip(),
        outline=transcript_outline(transcript),
    )
    try:
        stream = await run.complete_structured(messages, RESPONSE_FORMAT)
    except LLMError as exc:
        logger.warning("chapters call failed (%s); using extractive chapters", exc.message("en"))
        return []
    return drafts_from_json(stream.text)


def chapter_count_hint(end_ms: int) -> str:
    """How many chapters to ask for: about one per three minutes, 2 to 8."""
    low = max(2, min(6, end_ms // 240_000))
    return f"{low} 到 {min(8, low + 2)}"


def transcript_outline(transcript: PartTranscript) -> str:
    """Passages' starts and first words, where the topics may change: every passage when that
    stays within OUTLINE_SHARE of the transcript's characters, else every k-th one (at least
    MIN_OUTLINE_LINES lines)."""
    passages = transcript.passages
    total_chars = sum(len(passage.text) for passage in passages)
    lines_allowed = max(MIN_OUTLINE_LINES, int(total_chars * OUTLINE_SHARE / OUTLINE_CHARS))
    step = max(1, math.ceil(len(passages) / lines_allowed))
    return "\n".join(
        f"{format_timestamp(passage.start_ms)} {re.sub(r'\s+', ' ', passage.text)[:OUTLINE_CHARS]}"
        for passage in passages[::step]
    )


def drafts_from_json(text: str) -> list[ChapterDraft]:
    """Chapter drafts from the JSON reply (a ```json fence is tolerated); [] when unreadable."""
    text = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text.strip())
    try:
        items = json.loads(text).get("chapters")
    except (ValueError, AttributeError):
        return []
    drafts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        start = parse_timestamp(str(item.get("start", "")))
        if start is not None:
            drafts.append(ChapterDraft(start, str(item.get("title", "")), str(item.get("gist", ""))))
    return drafts

"""The map phase of a long summary: notes on every section of the transcript, made concurrently
(SUMMARY_MAP_CONCURRENCY at a time) and merged again until they fit one reduce pass."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Protocol

from django.conf import settings

from chat.llm import ChatStream
from chat.prompts import load_prompt
from chat.selectors import PartTranscript
from chat.styles import StylePrompt, styled_messages
from chat.summaries.planning import LANGUAGE_INSTRUCTIONS, Note, budget_sections, notes_text, passages_text
from chat.summaries.sections import SECTION_PROMPT, SECTION_PROMPT_VERSION, SectionRun, SectionStream
from chat.summary_keys import SUMMARY_PROMPT_VERSION
from chat.timestamps import TimestampChecker, format_timestamp
from core.concurrency import gather_or_cancel
from core.tokens import count_tokens


class MapRun(SectionRun, Protocol):
    """What the map phase needs of the generation it runs in."""

    async def publish(self, event: dict) -> None: ...

    async def complete(self, messages: list[dict]) -> ChatStream: ...


async def map_notes(
    run: MapRun,
    transcript: PartTranscript,
    language: str,
    checker: TimestampChecker,
    *,
    style: StylePrompt | None = None,
) -> list[Note]:
    """Notes on every section, collapsed until they fit one pass (or cannot be merged further);
    a summary style may ask the notes to keep more (chat.styles)."""
    budget = int(settings.SUMMARY_SINGLE_PASS_TOKENS)
    section_tokens = int(settings.SUMMARY_SECTION_TOKENS)
    groups = budget_sections(transcript.passages, section_tokens)
    # A section's text is written when its call starts, so the first call waits for its own only.
    sections = [Note(group[0].start_ms, group[-1].end_ms, "") for group in groups]
    first_round = SectionStream(run, sections, checker)
    texts = [functools.partial(passages_text, group) for group in groups]
    notes = await _notes(run, sections, transcript.title, language, checker, style, first_round, texts)
    while sum(count_tokens(note.text) for note in notes) > budget and len(notes) > 1:
        groups = budget_sections(notes, section_tokens)
        if len(groups) >= len(notes):
            break  # each note alone is past the budget: reduce what there is
        merged = [Note(group[0].start_ms, group[-1].end_ms, notes_text(group)) for group in groups]
        notes = await _notes(run, merged, transcript.title, language, checker, style)
    return notes


async def _notes(
    run: MapRun,
    sections: list[Note],
    title: str,
    language: str,
    checker: TimestampChecker,
    style: StylePrompt | None,
    first_round: SectionStream | None = None,
    texts: Sequence[Callable[[], str]] = (),
) -> list[Note]:
    """One round of notes: each section summarized with its time range, progress published.
    The first round (`first_round`) also titles each section and hands it on in order; `texts`
    write the sections' texts (else each section's own text is used)."""
    semaphore = asyncio.Semaphore(int(settings.SUMMARY_MAP_CONCURRENCY))
    done = 0
    await run.publish({"type": "progress", "stage": "map", "done": 0, "total": len(sections)})

    async def note(index: int, section: Note) -> Note:
        nonlocal done
        text = texts[index]() if texts else section.text
        prompt = load_prompt(SECTION_PROMPT, SECTION_PROMPT_VERSION) if first_round else None
        messages = (prompt or load_prompt("summary_map", SUMMARY_PROMPT_VERSION)).messages(
            title=title,
            section_range=f"{format_timestamp(section.start_ms)}–{format_timestamp(section.end_ms)}",
            language_instruction=LANGUAGE_INSTRUCTIONS[language],
            transcript=text,
        )
        messages = styled_messages(messages, style, phase="map")
        async with semaphore:
            stream = await run.complete(messages)
        done += 1
        await run.publish({"type": "progress", "stage": "map", "done": done, "total": len(sections)})
        section_checker = checker.within(section.start_ms, section.end_ms)  # only this section's cues
        notes = section_checker.fix_text(stream.text).strip()
        if first_round is not None:
            notes = await first_round.finish(index, notes, text, section_checker)
        return Note(section.start_ms, section.end_ms, notes)

    return await gather_or_cancel(note(index, section) for index, section in enumerate(sections))

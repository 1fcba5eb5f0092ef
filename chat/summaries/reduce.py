"""Writing the summary with the LLM: one pass over a transcript that fits SUMMARY_SINGLE_PASS_TOKENS,
else the map phase's notes reduced into the summary. Either way the text streams out."""

from __future__ import annotations

from typing import Protocol

from asgiref.sync import sync_to_async
from django.conf import settings

from chat.highlights import Highlight
from chat.models import UsageRecord
from chat.prompts import load_prompt
from chat.selectors import PartTranscript
from chat.services.summaries import SummaryOutcome
from chat.styles import STANDARD, StylePrompt, style_prompt, styled_messages
from chat.summaries.mapping import MapRun, map_notes
from chat.summaries.planning import notes_text, passages_text, prompt_values
from chat.summary_keys import SUMMARY_PROMPT_VERSION
from chat.timestamps import TimestampChecker


class WriteRun(MapRun, Protocol):
    """What writing needs of the generation it runs in."""

    outcome: SummaryOutcome  # the mode is set here before any text streams

    async def stream_text(self, messages: list[dict], purpose: str, checker: TimestampChecker) -> None: ...


async def write_with_llm(
    run: WriteRun,
    transcript: PartTranscript,
    language: str,
    highlights: list[Highlight],
    checker: TimestampChecker,
    *,
    style: str = STANDARD,
) -> None:
    """Stream the summary's Markdown through `run` ("single" or "map_reduce" mode), in the style
    of the style key `style` (chat.styles: template_not_found if its template is gone)."""
    values = prompt_values(transcript, language, highlights)
    styling = await sync_to_async(_style_prompt)(style, language, values)
    if transcript.tokens <= int(settings.SUMMARY_SINGLE_PASS_TOKENS):
        run.outcome.mode = "single"
        messages = load_prompt("summary", SUMMARY_PROMPT_VERSION).messages(
            transcript=passages_text(transcript.passages), **values
        )
        await run.stream_text(styled_messages(messages, styling, phase="summary"), UsageRecord.Purpose.SUMMARY, checker)
        return
    run.outcome.mode = "map_reduce"
    notes = await map_notes(run, transcript, language, checker, style=styling)
    messages = load_prompt("summary_reduce", SUMMARY_PROMPT_VERSION).messages(notes=notes_text(notes), **values)
    messages = styled_messages(messages, styling, phase="summary")
    await run.stream_text(messages, UsageRecord.Purpose.SUMMARY_REDUCE, checker)


def _style_prompt(style: str, language: str, values: dict[str, str]) -> StylePrompt:
    headings = (values["abstract_heading"], values["points_heading"])
    video = {"title": values["title"], "part_title": values["part_title"]}
    return style_prompt(style, language=language, headings=headings, video=video)

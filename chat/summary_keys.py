"""Which cached summary a request gets: the key (part, language, prompt version, model, style)."""

from __future__ import annotations

from dataclasses import dataclass

from chat.errors import BAD_LANGUAGE
from chat.llm import OFFLINE_MODEL, OFFLINE_VERSION, chat_model, llm_available
from chat.styles import STANDARD
from core.errors import AppError

SUMMARY_PROMPT_VERSION = "v2"  # v2: transcripts shown as timed lines (issue 13)
LANGUAGES = ("zh", "en", "auto")


@dataclass(frozen=True)
class SummaryKey:
    part_id: int
    language: str
    prompt_version: str
    model: str
    style: str = STANDARD  # a style key (chat.styles): "brief", ... or "custom:<id>:<hash>"

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_MODEL


def summary_key(*, part_id: int, language: str, style: str = STANDARD) -> SummaryKey:
    """The cache key a request gets now: the configured chat model, or the offline extractor.

    `style` is a style key (chat.styles.style_key). The offline extractor has no prompt to
    style, so every style shares its one extractive entry ("standard")."""
    if language not in LANGUAGES:
        raise AppError(BAD_LANGUAGE, language=language)
    if llm_available():
        return SummaryKey(part_id, language, SUMMARY_PROMPT_VERSION, chat_model(), style)
    return SummaryKey(part_id, language, OFFLINE_VERSION, OFFLINE_MODEL, STANDARD)

"""Which cached summary a request gets: the key (part, language, prompt version, model)."""

from __future__ import annotations

from dataclasses import dataclass

from chat.errors import BAD_LANGUAGE
from chat.llm import OFFLINE_MODEL, OFFLINE_VERSION, chat_model, llm_available
from core.errors import AppError

SUMMARY_PROMPT_VERSION = "v1"
LANGUAGES = ("zh", "en", "auto")


@dataclass(frozen=True)
class SummaryKey:
    part_id: int
    language: str
    prompt_version: str
    model: str

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_MODEL


def summary_key(*, part_id: int, language: str) -> SummaryKey:
    """The cache key a request gets now: the configured chat model, or the offline extractor."""
    if language not in LANGUAGES:
        raise AppError(BAD_LANGUAGE, language=language)
    if llm_available():
        return SummaryKey(part_id, language, SUMMARY_PROMPT_VERSION, chat_model())
    return SummaryKey(part_id, language, OFFLINE_VERSION, OFFLINE_MODEL)

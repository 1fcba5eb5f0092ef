"""What a summary's Markdown holds besides the model's text: the 高能时刻 section from the danmaku,
the key points parsed out of it, and the offline (extractive) summary made without an LLM."""

from __future__ import annotations

from chat.highlights import Highlight, highlights_markdown
from chat.offline import extractive_markdown, extractive_summary
from chat.selectors import PartTranscript
from chat.summaries.planning import HEADINGS
from chat.timestamps import TimestampChecker, timestamped_lines


def highlights_section(text_so_far: str, highlights: list[Highlight], language: str) -> str:
    """The highlights section to append to the text so far (with the blank line it needs)."""
    if not highlights:
        return ""
    separator = "" if text_so_far.endswith("\n\n") else "\n" if text_so_far.endswith("\n") else "\n\n"
    _, _, heading = HEADINGS[language]
    return separator + highlights_markdown(highlights, heading, english=language == "en")


def key_points(text: str, language: str, checker: TimestampChecker) -> list[dict]:
    """The key points section's timestamped lines, each at a real chunk start."""
    _, points_heading, _ = HEADINGS[language]
    return timestamped_lines(text, points_heading.split()[0], checker)


def extractive_text(transcript: PartTranscript, language: str) -> str:
    """The offline summary: key sentences picked from the transcript (CPU-bound: run in a thread)."""
    extract = extractive_summary(transcript.passages)
    abstract_heading, points_heading, _ = HEADINGS[language]
    return extractive_markdown(
        extract, abstract_heading=abstract_heading, points_heading=points_heading, english=language == "en"
    )

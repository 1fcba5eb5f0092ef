"""Stored Markdown (summaries, answers) as safe HTML, and the Markdown export of a part (a note
for Obsidian or Logseq: YAML front matter, chapters, the summary and the transcript).

Markdown is rendered by markdown-it-py with raw HTML off (HTML in the text shows literally) and
images off (no remote loads), then sanitized by nh3 with a short allow-list. Timestamps such as
`[03:15]` in text become links the video page uses to seek the player:
`<a class="seek" href="#t=195" data-seek="195">[03:15]</a>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import nh3
from markdown_it import MarkdownIt

from chat.timestamps import TIMESTAMP_PATTERN, parse_timestamp
from videos.exports import clock, part_front_matter, part_transcript_markdown, part_url
from videos.models import VideoPart

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "strong", "em",
    "del", "s", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title", "data-seek"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")
    md.add_render_rule("text", _render_text)
    return md


def _render_text(self, tokens, index, options, env) -> str:
    return seekable_timestamps(html.escape(tokens[index].content, quote=False))


def seekable_timestamps(escaped_text: str) -> str:
    """Wrap each valid timestamp of already escaped text in a seek link."""

    def link(match: re.Match[str]) -> str:
        ms = parse_timestamp(match.group("start"))
        if ms is None:
            return match.group(0)
        seconds = ms // 1000
        return f'<a class="seek" href="#t={seconds}" data-seek="{seconds}">{match.group(0)}</a>'

    return TIMESTAMP_PATTERN.sub(link, escaped_text)


_MD = _markdown()


def markdown_html(text: str) -> str:
    """Sanitized HTML for stored Markdown, with seekable timestamps."""
    return sanitize_html(_MD.render(text or ""))


def sanitize_html(html_text: str) -> str:
    """Only the tags and attributes rendered Markdown needs; links get rel=noopener."""
    return nh3.clean(
        html_text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes={"a": {"seek"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )


def part_notes_markdown(
    part: VideoPart,
    summary_markdown: str | None,
    *,
    headings: Sequence[str],
    chapters: Sequence[dict] = (),
    chapters_heading: str = "章节",
) -> str:
    """One Markdown file for a part: YAML front matter (videos.exports.part_front_matter), title,
    link, the chapters (if any: [{"start_ms", "title", "gist"?}, ...]), the summary (if any) and
    the whole transcript.

    `headings` are the (summary, transcript, no-summary note) texts in the reader's language.
    """
    summary_heading, transcript_heading, no_summary = headings
    title = part.video.title if part.video.parts.count() <= 1 else f"{part.video.title} · P{part.page} {part.title}"
    summary = _demote_headings(summary_markdown.strip()) if summary_markdown else no_summary
    transcript = part_transcript_markdown(part)
    sections = [f"# {title}", f"<{part_url(part)}>"]
    if chapters:
        sections.append(f"## {chapters_heading}\n\n" + "\n".join(_chapter_line(chapter) for chapter in chapters))
    sections += [f"## {summary_heading}", summary, f"## {transcript_heading}", transcript]
    return part_front_matter(part, chapters=chapters) + "\n" + "\n\n".join(sections) + "\n"


def _chapter_line(chapter: dict) -> str:
    gist = str(chapter.get("gist") or "").strip()
    return f"- [{clock(int(chapter['start_ms']))}] {chapter['title']}" + (f" — {gist}" if gist else "")


def _demote_headings(markdown: str) -> str:
    """The summary's `## 摘要` sections become `###` under the export's `## 总结`."""
    return re.sub(r"^(#{1,5}) ", r"#\1 ", markdown, flags=re.MULTILINE)

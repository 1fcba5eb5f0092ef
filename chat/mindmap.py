"""A part's chapters and mind map, read from its current summary (no LLM call, offline too).

The mind map is a markmap-compatible Markdown outline, chapters → key points → details:

    # [[00:00]](https://www.bilibili.com/video/BV…?p=1&t=0) 视频标题
    ## [[00:00]](…&t=0) 第一章的标题
    - [[01:23]](…&t=83) 📌 一个要点
      - [[01:30]](…&t=90) 一个细节

Every node carries its moment, the start of a real transcript line (cue): `[mm:ss]` linked to
the Bilibili player at `t=` (whole seconds, so at most a second before the line). Key points go
under the chapter they fall in; a key point's details are the section notes inside it (long
parts), else the transcript line it points at. A chapter without key points lists its section
notes, else its gist. `nodes` is the same tree as data: `{"id", "parent", "depth", "kind",
"text", "start_ms", "url"}` (kind: root, chapter, point, detail).

A summary stored before chapters existed gets derived ones (the uploader's, else extractive),
computed on read and not saved: a GET never writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from chat.chapters import EXTRACTIVE, chapters_derived, clip, part_end_ms
from chat.errors import SUMMARY_IN_PROGRESS, SUMMARY_NOT_FOUND
from chat.models import Summary
from chat.selectors import PartTranscript, part_transcript, summary_current
from chat.timestamps import TimestampChecker, format_timestamp
from core.errors import AppError
from videos.models import VideoPart
from videos.selectors import part_require_ready

DETAILS_PER_POINT = 3
QUOTE_MAX_CHARS = 60
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def player_url(bvid: str, page: int, start_ms: int) -> str:
    """The Bilibili player at a moment (whole seconds, rounded down)."""
    return f"https://www.bilibili.com/video/{bvid}?p={page}&t={max(0, int(start_ms)) // 1000}"


def summary_for_outline(*, part: VideoPart, language: str, style: str) -> Summary:
    """The part's current summary: part_not_ready / ingest_failed (409) while the part is not
    ready, summary_in_progress (409) while it is being made, summary_not_found (404) if none."""
    part_require_ready(part)
    summary = summary_current(part_id=part.pk, language=language, style=style)
    if summary is not None:
        return summary
    rows = Summary.objects.filter(part_id=part.pk, language=language, style=style)
    if rows.filter(status=Summary.Status.GENERATING).exists():
        raise AppError(SUMMARY_IN_PROGRESS)
    raise AppError(SUMMARY_NOT_FOUND, details={"language": language, "style": style})


def summary_chapters_read(summary: Summary, part: VideoPart, transcript: PartTranscript) -> list[dict]:
    """The summary's chapters, or derived ones for a summary stored without them."""
    if summary.chapters:
        return summary.chapters
    checker = TimestampChecker.from_cues(transcript.cues)
    return chapters_derived(
        uploader_chapters=part.uploader_chapters,
        key_points=summary.key_points,
        texts=transcript.passages,
        checker=checker,
        end_ms=part_end_ms(duration_seconds=part.duration_seconds, transcript_end_ms=checker.end_ms),
        fallback_title=transcript.part_title or transcript.title,
    )


def part_chapters(*, part: VideoPart, language: str, style: str) -> dict[str, Any]:
    """{"summary_id", "offline", "chapters"} of the part's current summary (sync: a read)."""
    summary = summary_for_outline(part=part, language=language, style=style)
    chapters = summary.chapters or summary_chapters_read(summary, part, part_transcript(part_id=part.pk))
    return {"summary_id": summary.pk, "offline": summary.offline, "chapters": chapters}


def part_mindmap(*, part: VideoPart, language: str, style: str) -> dict[str, Any]:
    """{"summary_id", "offline", "extractive", "markdown", "nodes"} of the part's current summary."""
    summary = summary_for_outline(part=part, language=language, style=style)
    transcript = part_transcript(part_id=part.pk)
    chapters = summary_chapters_read(summary, part, transcript)
    extractive = summary.offline or all(chapter.get("source") == EXTRACTIVE for chapter in chapters)
    outline = MindMap(part.video.bvid, part.page)
    title = (
        transcript.title
        if transcript.part_title in ("", transcript.title)
        else f"{transcript.title} · {transcript.part_title}"
    )
    outline.build(
        title=title + (" · 离线摘录 extractive" if extractive else ""),
        chapters=chapters,
        key_points=summary.key_points,
        cues=[(cue.start_ms, cue.text) for cue in transcript.cues],
    )
    return {
        "summary_id": summary.pk,
        "offline": summary.offline,
        "extractive": extractive,
        "markdown": outline.markdown(),
        "nodes": outline.nodes,
    }


class MindMap:
    """Builds the outline's lines and nodes together, so both always say the same."""

    def __init__(self, bvid: str, page: int) -> None:
        self.bvid, self.page = bvid, page
        self.lines: list[str] = []
        self.nodes: list[dict] = []

    def markdown(self) -> str:
        return "\n".join(self.lines) + "\n"

    def build(self, *, title: str, chapters: Sequence[dict], key_points: Sequence[dict], cues: Sequence[tuple]) -> None:
        root = self.add(None, "root", title, 0)
        for chapter in chapters:
            node = self.add(root, "chapter", chapter["title"], chapter["start_ms"])
            inside = [p for p in key_points if chapter["start_ms"] <= p["start_ms"] < chapter["end_ms"]]
            notes = list(chapter.get("points") or [])
            if not inside:
                for note in notes or [{"start_ms": chapter["start_ms"], "text": chapter.get("gist", "")}]:
                    if str(note["text"]).strip():
                        self.add(node, "point", note["text"], note["start_ms"])
                continue
            for number, point in enumerate(inside):
                until = inside[number + 1]["start_ms"] if number + 1 < len(inside) else chapter["end_ms"]
                point_node = self.add(node, "point", point["text"], point["start_ms"])
                for detail in _details(point, until, notes, cues):
                    self.add(point_node, "detail", detail["text"], detail["start_ms"])

    def add(self, parent: int | None, kind: str, text: str, start_ms: int) -> int:
        """One node: its Markdown line and its data; returns its id."""
        depth = 0 if parent is None else self.nodes[parent]["depth"] + 1
        url = player_url(self.bvid, self.page, start_ms)
        text = clip(text, 200)
        label = f"[{format_timestamp(start_ms)}]({url}) {_escaped(text)}"
        prefix = "#" * (depth + 1) + " " if depth <= 1 else "  " * (depth - 2) + "- "
        self.lines.append(prefix + label)
        node_id = len(self.nodes)
        self.nodes.append(
            {
                "id": node_id,
                "parent": parent,
                "depth": depth,
                "kind": kind,
                "text": text,
                "start_ms": int(start_ms),
                "url": url,
            }
        )
        return node_id


def _details(point: dict, until: int, notes: Sequence[dict], cues: Sequence[tuple]) -> list[dict]:
    """A key point's details: section notes inside [point, until), else the line it points at."""
    start = point["start_ms"]
    inside = [note for note in notes if start <= note["start_ms"] < until and note["text"] != point["text"]]
    if inside:
        return inside[:DETAILS_PER_POINT]
    line = next((cue for cue in cues if cue[0] >= start), None)
    return [{"start_ms": line[0], "text": f"「{clip(line[1], QUOTE_MAX_CHARS)}」"}] if line and line[0] < until else []


def _escaped(text: str) -> str:
    """Text that Markdown shows as it is (no links, emphasis or headings made of it)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)

"""A part's transcript for download (SRT, WebVTT, JSON, Markdown) and the YAML front matter that
makes a Markdown export a note in Obsidian or Logseq (chat.rendering adds the summary)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from videos.models import VideoPart
from videos.transcripts import transcript_to_srt
from videos.types import Cue, Transcript


def part_transcript(part: VideoPart) -> Transcript:
    cues = [Cue(start_ms=start, end_ms=end, text=text) for start, end, text in part.transcript_cues]
    return Transcript(cues=cues, source=part.transcript_source, language=part.transcript_language)


def clock(ms: int) -> str:
    """mm:ss below an hour, h:mm:ss from an hour on."""
    seconds = max(0, ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def part_transcript_srt(part: VideoPart) -> str:
    return transcript_to_srt(part_transcript(part))


def _vtt_timestamp(ms: int) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _vtt_text(text: str) -> str:
    """Cue text as WebVTT wants it: &, < and > escaped, no blank line, no "-->" (which would start a timing)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")
    return "\n".join(line.strip() for line in escaped.splitlines() if line.strip())


def part_transcript_vtt(part: VideoPart) -> str:
    """The transcript as WebVTT (what transcript_from_webvtt reads back)."""
    blocks = ["WEBVTT\n"]
    for start, end, text in part.transcript_cues:
        cue_text = _vtt_text(str(text))
        if cue_text:
            blocks.append(f"{_vtt_timestamp(start)} --> {_vtt_timestamp(end)}\n{cue_text}\n")
    return "\n".join(blocks)


def part_transcript_json(part: VideoPart) -> dict:
    return {
        "bvid": part.video.bvid,
        "page": part.page,
        "cid": part.cid,
        "title": part.video.title,
        "part_title": part.title,
        "source": part.transcript_source,
        "language": part.transcript_language,
        "cues": [{"start_ms": start, "end_ms": end, "text": text} for start, end, text in part.transcript_cues],
    }


def part_transcript_markdown(part: VideoPart) -> str:
    lines = [f"- [{clock(start)}] {text}" for start, _, text in part.transcript_cues]
    return "\n".join(lines)


def export_filename(part: VideoPart, suffix: str) -> str:
    return f"{part.video.bvid}-p{part.page}.{suffix}"


# --- YAML front matter (Obsidian properties, Logseq page properties) ---------------------------------

EXPORT_TAGS = ("bilibili", "chatbili")
# What YAML cannot hold raw in a quoted scalar (and line separators it would fold): escaped as \\uXXXX.
_YAML_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def part_url(part: VideoPart) -> str:
    """The part on Bilibili (`?p=N` from the second part on)."""
    return f"https://www.bilibili.com/video/{part.video.bvid}" + (f"?p={part.page}" if part.page > 1 else "")


def part_front_matter(part: VideoPart, *, chapters: Sequence[dict] = ()) -> str:
    """The `---` YAML block that opens a Markdown export: title, url, bvid, part, uploader,
    duration, tags and (when given: [{"start_ms", "title"}, ...]) chapters as "mm:ss title"."""
    video = part.video
    seconds = part.duration_seconds or video.duration_seconds
    fields: list[tuple[str, object]] = [
        ("title", video.title),
        ("url", part_url(part)),
        ("bvid", video.bvid),
        ("part", part.page),
        ("part_title", part.title),
        ("uploader", video.owner_name),
        ("duration", clock(seconds * 1000)),
        ("duration_seconds", seconds),
    ]
    if video.published_at:
        fields.append(("published", video.published_at.date().isoformat()))
    fields.append(("tags", list(EXPORT_TAGS)))
    if chapters:
        fields.append(("chapters", [f"{clock(int(chapter['start_ms']))} {chapter['title']}" for chapter in chapters]))
    return "---\n" + "".join(_yaml_field(name, value) for name, value in fields) + "---\n"


def _yaml_field(name: str, value: object) -> str:
    if isinstance(value, list):
        return f"{name}:\n" + "".join(f"  - {_yaml_scalar(item)}\n" for item in value)
    return f"{name}: {_yaml_scalar(value)}\n"


def _yaml_scalar(value: object) -> str:
    """Numbers as they are; every string double-quoted (a JSON string is a YAML double-quoted
    scalar), so no title can turn into YAML syntax."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _YAML_UNPRINTABLE.sub(
        lambda match: f"\\u{ord(match.group(0)):04x}", json.dumps(str(value), ensure_ascii=False)
    )

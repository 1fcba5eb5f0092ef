"""A part's transcript for download: SRT, JSON and Markdown."""

from __future__ import annotations

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

"""Transcript formats: Bilibili's BCC JSON (subtitles), SRT and WebVTT."""

from __future__ import annotations

import json
from typing import Any

from videos.errors import VideoError
from videos.types import Cue, Transcript


def transcript_from_bcc_json(data: str | bytes | dict[str, Any], *, source: str, language: str = "") -> Transcript:
    """BCC: {"body": [{"from": 0.5, "to": 2.3, "content": "..."}, ...]} with times in seconds."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise VideoError(
                "bad_transcript", "字幕文件不是有效的 JSON", "The subtitle file is not valid JSON"
            ) from exc
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, list):
        raise VideoError("bad_transcript", "字幕文件缺少 body 字段", "The subtitle file has no body")
    cues = []
    for item in body:
        try:
            start_ms = round(float(item["from"]) * 1000)
            end_ms = round(float(item["to"]) * 1000)
            text = str(item["content"]).strip()
        except (KeyError, TypeError, ValueError) as exc:
            raise VideoError("bad_transcript", "字幕行格式错误", "A subtitle line is malformed") from exc
        if text:
            cues.append(Cue(start_ms=max(0, start_ms), end_ms=max(start_ms, end_ms), text=text))
    cues.sort(key=lambda cue: (cue.start_ms, cue.end_ms))
    return Transcript(cues=cues, source=source, language=language)

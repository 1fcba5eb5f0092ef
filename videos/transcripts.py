"""Transcript formats: Bilibili's BCC JSON (subtitles), SRT and WebVTT."""

from __future__ import annotations

import codecs
import html
import json
import re
from pathlib import PurePath
from typing import Any

from core.errors import AppError
from videos.errors import BAD_TRANSCRIPT
from videos.types import Cue, Transcript


def transcript_from_bcc_json(data: str | bytes | dict[str, Any], *, source: str, language: str = "") -> Transcript:
    """BCC: {"body": [{"from": 0.5, "to": 2.3, "content": "..."}, ...]} with times in seconds."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise _bad_transcript("The file is not valid JSON") from exc
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, list):
        raise _bad_transcript("The file has no body")
    cues = []
    for item in body:
        try:
            start_ms = round(float(item["from"]) * 1000)
            end_ms = round(float(item["to"]) * 1000)
            text = str(item["content"]).strip()
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_transcript("A subtitle line is malformed") from exc
        if text:
            cues.append(Cue(start_ms=max(0, start_ms), end_ms=max(start_ms, end_ms), text=text))
    cues.sort(key=lambda cue: (cue.start_ms, cue.end_ms))
    return Transcript(cues=cues, source=source, language=language)


# --- SRT and WebVTT ------------------------------------------------------------------------------

IMPORTED = "imported"
TRANSCRIPT_FILE_SUFFIXES = (".srt", ".vtt", ".json")  # what transcript_from_file understands

# hh:mm:ss.mmm or mm:ss.mmm, with "," (SRT) or "." (VTT) before the fraction.
_TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[,.](\d{1,3}))?"
_TIMING_LINE = re.compile(rf"\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:[ \t].*)?")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")  # <i>, </font>, <c.yellow>, <v Bob>, <00:01.000>
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")  # {\an8} and friends, common in SRT made from ASS
_VTT_HEADER = re.compile(r"WEBVTT(?:[ \t]|$)")
_VTT_SKIPPED_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)")


def _bad_transcript(reason: str) -> AppError:
    """A file that cannot be imported; `reason` says what is wrong with it (shown in both languages)."""
    return AppError(BAD_TRANSCRIPT, reason=reason)


def _split_lines(text: str) -> list[str]:
    """Lines without a BOM, whatever the line endings (CRLF, CR or LF)."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _timestamp_ms(groups: tuple[str | None, ...], line_no: int) -> int:
    hours, minutes, seconds, fraction = groups
    if int(minutes or 0) >= 60 or int(seconds or 0) >= 60:
        raise _bad_transcript(f"Line {line_no}: minutes or seconds out of range")
    millis = int((fraction or "0").ljust(3, "0"))
    return ((int(hours or 0) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)) * 1000 + millis


def _parse_timing(line: str, line_no: int) -> tuple[int, int]:
    match = _TIMING_LINE.fullmatch(line)
    if match is None:
        raise _bad_transcript(
            f"Line {line_no}: bad timing line (expected 00:00:01,000 --> 00:00:02,000): {line.strip()[:60]}"
        )
    start_ms = _timestamp_ms(match.groups()[:4], line_no)
    end_ms = _timestamp_ms(match.groups()[4:], line_no)
    return start_ms, max(start_ms, end_ms)


def _clean_text(lines: list[str], *, unescape_entities: bool) -> str:
    cleaned = []
    for line in lines:
        line = _ASS_OVERRIDE.sub("", _TAG.sub("", line))
        if unescape_entities:
            line = html.unescape(line).replace("\xa0", " ")
        if line.strip():
            cleaned.append(line.strip())
    return "\n".join(cleaned)


def _is_identifier(lines: list[str], index: int, previous_timing: int) -> bool:
    """Whether the line before a timing line names the cue (SRT index, VTT id) rather than being text."""
    line = lines[index].strip()
    if not line or index <= previous_timing:
        return False
    return line.isdigit() or not lines[index - 1].strip()


def _cues_from_lines(lines: list[str], *, unescape_entities: bool) -> list[Cue]:
    """Cue text is every non-blank line between a timing line and the next cue's id or timing line.

    Blank lines inside a cue and missing blank lines between cues are tolerated.
    """
    timings = [index for index, line in enumerate(lines) if "-->" in line]
    cues = []
    for number, index in enumerate(timings):
        start_ms, end_ms = _parse_timing(lines[index], index + 1)
        text_end = timings[number + 1] if number + 1 < len(timings) else len(lines)
        if text_end < len(lines) and _is_identifier(lines, text_end - 1, index):
            text_end -= 1
        text = _clean_text(lines[index + 1 : text_end], unescape_entities=unescape_entities)
        if text:
            cues.append(Cue(start_ms=start_ms, end_ms=end_ms, text=text))
    if not cues:
        raise _bad_transcript("No subtitle cues were found in the file")
    cues.sort(key=lambda cue: (cue.start_ms, cue.end_ms))
    return cues


def transcript_from_srt(text: str, *, source: str = IMPORTED) -> Transcript:
    """SRT: numbered blocks of `00:00:01,000 --> 00:00:02,500` and one or more text lines."""
    return Transcript(cues=_cues_from_lines(_split_lines(text), unescape_entities=False), source=source)


def transcript_from_webvtt(text: str, *, source: str = IMPORTED) -> Transcript:
    """WebVTT: a WEBVTT header, then cues (optional id, timing with settings, text); NOTE/STYLE/REGION skipped."""
    lines = _split_lines(text)
    if not _VTT_HEADER.match(lines[0]):
        raise _bad_transcript("A WebVTT file must start with the line WEBVTT")
    language = _blank_vtt_header(lines)
    _blank_vtt_skipped_blocks(lines)
    cues = _cues_from_lines(lines, unescape_entities=True)
    return Transcript(cues=cues, source=source, language=language)


def _blank_vtt_header(lines: list[str]) -> str:
    """Blank the header block in place (up to the first blank or timing line); return its Language: value."""
    language = ""
    for index, line in enumerate(lines):
        if not line.strip() or "-->" in line:
            break
        key, _, value = line.partition(":")
        if index > 0 and key.strip().lower() == "language":
            language = value.strip()
        lines[index] = ""
    return language


def _blank_vtt_skipped_blocks(lines: list[str]) -> None:
    """Blank NOTE, STYLE and REGION blocks in place, keeping line numbers for error messages."""
    skipping, block_start = False, True
    for index, line in enumerate(lines):
        if not line.strip():
            skipping, block_start = False, True
            continue
        if block_start:
            skipping = bool(_VTT_SKIPPED_BLOCK.match(line))
        block_start = False
        if skipping:
            lines[index] = ""


def transcript_from_file(name: str, data: bytes) -> Transcript:
    """An uploaded transcript: SRT, WebVTT or Bilibili BCC JSON, told apart by content, then extension."""
    text = _decode_transcript_file(data)
    file_format = _transcript_format(name, text)
    if file_format == "webvtt":
        return transcript_from_webvtt(text)
    if file_format == "srt":
        return transcript_from_srt(text)
    transcript = transcript_from_bcc_json(text.removeprefix("\ufeff"), source=IMPORTED)
    if not transcript.cues:
        raise _bad_transcript("No subtitle cues were found in the file")
    return transcript


def _decode_transcript_file(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or GB18030/GBK (common for Chinese subtitles)."""
    if not data.strip():
        raise _bad_transcript("The transcript file is empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    elif b"\x00" in data:
        raise _bad_transcript("This is not a text file (binary data)")
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _bad_transcript("Cannot tell the file's text encoding (use UTF-8)")


def _transcript_format(name: str, text: str) -> str:
    head = text.lstrip("\ufeff \t\r\n")
    suffix = PurePath(name).suffix.lower()
    if _VTT_HEADER.match(head):
        return "webvtt"
    if head.startswith("{") or suffix == ".json":
        return "bcc"
    if suffix == ".vtt":
        return "webvtt"  # no header: transcript_from_webvtt says so
    if suffix == ".srt" or "-->" in text:
        return "srt"
    raise _bad_transcript("Unsupported transcript format: upload an .srt, .vtt or Bilibili .json subtitle file")


def _srt_timestamp(ms: int) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def transcript_to_srt(transcript: Transcript) -> str:
    """SRT text for export; blank lines inside a cue are dropped so they cannot end it early."""
    blocks = []
    for cue in transcript.cues:
        text = "\n".join(line.strip() for line in cue.text.splitlines() if line.strip())
        if text:
            timing = f"{_srt_timestamp(cue.start_ms)} --> {_srt_timestamp(cue.end_ms)}"
            blocks.append(f"{len(blocks) + 1}\n{timing}\n{text}\n")
    return "\n".join(blocks)

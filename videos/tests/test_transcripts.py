"""Transcript formats: BCC JSON, SRT and WebVTT in, SRT out; imported files and their errors."""

from __future__ import annotations

import codecs
import json

import pytest

from core.errors import AppError
from videos.transcripts import (
    transcript_from_bcc_json,
    transcript_from_file,
    transcript_from_srt,
    transcript_from_webvtt,
    transcript_to_srt,
)
from videos.types import Cue, Transcript

SRT_BASIC = """1
00:00:01,000 --> 00:00:02,500
大家好

2
00:00:03,000 --> 00:00:04,250
第一行
第二行
"""
CUES_BASIC = [Cue(1000, 2500, "大家好"), Cue(3000, 4250, "第一行\n第二行")]

SRT_CASES = {
    "basic": (SRT_BASIC, CUES_BASIC),
    "bom and crlf": ("\ufeff" + SRT_BASIC.replace("\n", "\r\n"), CUES_BASIC),
    "bare cr": (SRT_BASIC.replace("\n", "\r"), CUES_BASIC),
    "no trailing newline, extra blank lines": ("\n\n" + SRT_BASIC.rstrip() + "\n\n\n", CUES_BASIC),
    "tags and ass overrides": (
        '1\n00:00:01,000 --> 00:00:02,000\n<i>斜体</i> <b>粗</b>\n{\\an8}<font color="#ff0">上方</font>\n',
        [Cue(1000, 2000, "斜体 粗\n上方")],
    ),
    "dot fraction, position, no hours, short fraction": (
        "1\n00:01.5 --> 01:02.25 X1:10 X2:20\nshort\n",
        [Cue(1500, 62250, "short")],
    ),
    "hours past 99": ("7\n123:00:00,000 --> 123:00:01,000\nlong\n", [Cue(442_800_000, 442_801_000, "long")]),
    "missing blank line between cues": (
        "1\n00:00:01,000 --> 00:00:02,000\none\n2\n00:00:03,000 --> 00:00:04,000\ntwo\n",
        [Cue(1000, 2000, "one"), Cue(3000, 4000, "two")],
    ),
    "blank line inside a cue": (
        "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\nstill first\n\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n",
        [Cue(1000, 2000, "first\nstill first"), Cue(3000, 4000, "second")],
    ),
    "number as text": ("1\n00:00:01,000 --> 00:00:02,000\n42\n", [Cue(1000, 2000, "42")]),
    "out of order, end before start, empty cue": (
        "1\n00:00:05,000 --> 00:00:06,000\nlater\n\n2\n00:00:01,000 --> 00:00:00,500\nearlier\n\n"
        "3\n00:00:07,000 --> 00:00:08,000\n<i></i>\n",
        [Cue(1000, 1000, "earlier"), Cue(5000, 6000, "later")],
    ),
}


@pytest.mark.parametrize(("text", "expected"), SRT_CASES.values(), ids=SRT_CASES.keys())
def test_srt(text: str, expected: list[Cue]) -> None:
    transcript = transcript_from_srt(text)
    assert transcript.cues == expected
    assert transcript.source == "imported"


VTT_FULL = """WEBVTT - 示例
Kind: captions
Language: zh-CN

STYLE
::cue { color: yellow }

NOTE
This is a comment, it can span
several lines.

REGION
id:fred width:40%

intro
00:01.000 --> 00:02.500 align:start position:10% line:0
<v Bob>你好</v> &amp; <c.yellow>再见</c>
second <00:02.000>line

NOTE one-line note

2
01:00:00.000 --> 01:00:01.250
<ruby>漢<rt>かん</rt></ruby>&nbsp;&lt;tag&gt;
"""

VTT_CASES = {
    "headers, notes, styles, regions, settings, tags": (
        VTT_FULL,
        [Cue(1000, 2500, "你好 & 再见\nsecond line"), Cue(3_600_000, 3_601_250, "漢かん <tag>")],
    ),
    "bom and crlf": (
        "\ufeffWEBVTT\r\n\r\n00:00:01.000 --> 00:00:02.000\r\nhi\r\nthere\r\n",
        [Cue(1000, 2000, "hi\nthere")],
    ),
    "header line directly followed by a cue": ("WEBVTT\n00:01.000 --> 00:02.000\nhi\n", [Cue(1000, 2000, "hi")]),
    "text identifiers": (
        "WEBVTT\n\nfirst-cue\n00:00:01.000 --> 00:00:02.000\none\n\nsecond cue\n00:00:03.000 --> 00:00:04.000\ntwo\n",
        [Cue(1000, 2000, "one"), Cue(3000, 4000, "two")],
    ),
}


@pytest.mark.parametrize(("text", "expected"), VTT_CASES.values(), ids=VTT_CASES.keys())
def test_webvtt(text: str, expected: list[Cue]) -> None:
    transcript = transcript_from_webvtt(text)
    assert transcript.cues == expected
    assert transcript.source == "imported"


def test_webvtt_language_header() -> None:
    assert transcript_from_webvtt(VTT_FULL).language == "zh-CN"
    assert transcript_from_webvtt(VTT_CASES["bom and crlf"][0]).language == ""


def test_srt_keeps_html_entities_as_written() -> None:
    # Entities are part of WebVTT, not SRT: "R&amp;D" in an SRT file is literal text.
    assert transcript_from_srt("1\n00:00:01,000 --> 00:00:02,000\nR&amp;D\n").cues[0].text == "R&amp;D"


# --- transcript_from_file ----------------------------------------------------------------------------

VTT_SMALL = "WEBVTT\n\n00:01.000 --> 00:02.500\n大家好\n\n00:03.000 --> 00:04.250\n第一行\n第二行\n"
BCC_SMALL = json.dumps(
    {"body": [{"from": 1.0, "to": 2.5, "content": "大家好"}, {"from": 3, "to": 4.25, "content": "第一行\n第二行"}]},
    ensure_ascii=False,
)

FILE_CASES = {
    "srt": ("subs.srt", SRT_BASIC.encode()),
    "upper-case extension": ("SUBS.SRT", SRT_BASIC.encode()),
    "vtt": ("subs.vtt", VTT_SMALL.encode()),
    "bcc json": ("BV1xx411c7mD.json", BCC_SMALL.encode()),
    "srt content in .txt": ("subs.txt", SRT_BASIC.encode()),
    "vtt content without extension": ("subs", VTT_SMALL.encode()),
    "vtt content named .srt": ("misnamed.srt", VTT_SMALL.encode()),
    "bcc content named .txt": ("subs.txt", BCC_SMALL.encode()),
    "utf-8 bom": ("subs.srt", codecs.BOM_UTF8 + SRT_BASIC.encode()),
    "utf-8 bom json": ("subs.json", codecs.BOM_UTF8 + BCC_SMALL.encode()),
    "utf-16 le bom": ("subs.srt", SRT_BASIC.encode("utf-16")),
    "utf-16 be bom": ("subs.vtt", codecs.BOM_UTF16_BE + VTT_SMALL.encode("utf-16-be")),
    "gbk": ("subs.srt", SRT_BASIC.replace("\n", "\r\n").encode("gbk")),
}


@pytest.mark.parametrize(("name", "data"), FILE_CASES.values(), ids=FILE_CASES.keys())
def test_file_formats_are_detected(name: str, data: bytes) -> None:
    transcript = transcript_from_file(name, data)
    assert transcript.cues == CUES_BASIC
    assert transcript.source == "imported"


NO_CUES = "No subtitle cues were found in the file"
OUT_OF_RANGE = "Line 3: minutes or seconds out of range"
BAD_FILES = {
    "empty": ("a.srt", b"", "The transcript file is empty"),
    "whitespace only": ("a.vtt", b" \r\n\n", "The transcript file is empty"),
    "binary": ("a.srt", b"\x00\x00\x00\x18ftypM4A \x00\x00", "This is not a text file (binary data)"),
    "not utf-8 or gbk": (
        "a.srt",
        b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\xfd\x81\n",
        "Cannot tell the file's text encoding (use UTF-8)",
    ),
    "unknown format": (
        "notes.txt",
        "只是一些文字\n没有时间轴".encode(),
        "Unsupported transcript format: upload an .srt, .vtt or Bilibili .json subtitle file",
    ),
    "vtt without header": (
        "a.vtt",
        b"00:01.000 --> 00:02.000\nhi\n",
        "A WebVTT file must start with the line WEBVTT",
    ),
    "bad timing": (
        "a.srt",
        b"1\n00:00:01,000 --> soon\nhi\n",
        "Line 2: bad timing line (expected 00:00:01,000 --> 00:00:02,000): 00:00:01,000 --> soon",
    ),
    "seconds out of range": ("a.srt", b"1\n\n00:00:61,000 --> 00:01:02,000\nhi\n", OUT_OF_RANGE),
    "minutes out of range": ("a.vtt", b"WEBVTT\n\n1:60:00.000 --> 2:00:00.000\nhi\n", OUT_OF_RANGE),
    "timings but no text": ("a.srt", b"1\n00:00:01,000 --> 00:00:02,000\n\n", NO_CUES),
    "vtt with only notes": ("a.vtt", b"WEBVTT\n\nNOTE nothing here\n", NO_CUES),
    "bad json": ("a.json", b'{"body": [', "The file is not valid JSON"),
    "json without body": ("a.json", b'{"subtitles": []}', "The file has no body"),
    "json with bad item": (
        "a.json",
        b'{"body": [{"from": "x", "to": 1, "content": "a"}]}',
        "A subtitle line is malformed",
    ),
    "json with empty body": ("a.json", b'{"body": []}', NO_CUES),
}


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_raise_a_clear_bad_transcript_error(name: str, data: bytes, message: str) -> None:
    with pytest.raises(AppError) as caught:
        transcript_from_file(name, data)
    error = caught.value
    assert (error.code, error.status, error.retryable) == ("bad_transcript", 422, False)
    assert error.params == {"reason": message}
    assert error.message("zh").startswith(f"无法导入字幕文件（{message}）")


# --- SRT export ------------------------------------------------------------------------------------


def test_srt_export_of_the_documented_vectors() -> None:
    # docs §11.3 (BCC item 1) and §11.5 (bcut utterance 1).
    bcc = transcript_from_bcc_json({"body": [{"from": 7.94, "to": 8.96, "content": "first line"}]}, source="subtitle")
    assert transcript_to_srt(bcc) == "1\n00:00:07,940 --> 00:00:08,960\nfirst line\n"
    asr = Transcript(cues=[Cue(0, 1830, "大家好")], source="asr")
    assert transcript_to_srt(asr) == "1\n00:00:00,000 --> 00:00:01,830\n大家好\n"


def test_srt_export_numbers_cues_and_keeps_them_intact() -> None:
    transcript = Transcript(
        cues=[Cue(0, 999, "a"), Cue(1000, 1000, "  "), Cue(3_723_004, 360_000_000, "two\n\nlines")],
        source="asr",
    )
    assert transcript_to_srt(transcript) == (
        "1\n00:00:00,000 --> 00:00:00,999\na\n\n2\n01:02:03,004 --> 100:00:00,000\ntwo\nlines\n"
    )


@pytest.mark.parametrize(("text", "expected"), SRT_CASES.values(), ids=SRT_CASES.keys())
def test_srt_round_trip(text: str, expected: list[Cue]) -> None:
    exported = transcript_to_srt(transcript_from_srt(text))
    assert transcript_from_srt(exported).cues == expected

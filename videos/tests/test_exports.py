"""Transcript exports from the stored cues."""

from __future__ import annotations

import pytest

from videos.exports import clock, export_filename, part_transcript_json, part_transcript_markdown, part_transcript_srt
from videos.models import Video, VideoPart

pytestmark = pytest.mark.django_db


@pytest.fixture
def part() -> VideoPart:
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="<b>标题</b>")
    return VideoPart.objects.create(
        video=video,
        page=2,
        cid=7,
        transcript_source="subtitle",
        transcript_language="zh-CN",
        transcript_cues=[[0, 1500, "第一行"], [3_725_000, 3_726_000, "一小时后"]],
    )


def test_srt(part: VideoPart) -> None:
    assert part_transcript_srt(part) == (
        "1\n00:00:00,000 --> 00:00:01,500\n第一行\n\n2\n01:02:05,000 --> 01:02:06,000\n一小时后\n"
    )


def test_json(part: VideoPart) -> None:
    data = part_transcript_json(part)
    assert (data["bvid"], data["page"], data["source"]) == ("BV1xx411c7mD", 2, "subtitle")
    assert data["cues"][1] == {"start_ms": 3_725_000, "end_ms": 3_726_000, "text": "一小时后"}


def test_markdown_and_names(part: VideoPart) -> None:
    assert part_transcript_markdown(part) == "- [00:00] 第一行\n- [1:02:05] 一小时后"
    assert export_filename(part, "srt") == "BV1xx411c7mD-p2.srt"
    assert clock(59_999) == "00:59"

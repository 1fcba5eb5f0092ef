"""Transcript exports from the stored cues."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client

from tests.api_client import API, api_client, auser_with_token
from tests.factories import ready_part
from videos.exports import (
    clock,
    export_filename,
    part_front_matter,
    part_transcript_json,
    part_transcript_markdown,
    part_transcript_srt,
    part_transcript_vtt,
)
from videos.models import Video, VideoPart
from videos.transcripts import transcript_from_webvtt

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


def test_vtt(part: VideoPart) -> None:
    assert part_transcript_vtt(part) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n第一行\n\n01:02:05.000 --> 01:02:06.000\n一小时后\n"
    )


def test_vtt_escapes_what_would_break_a_cue_and_reads_back() -> None:
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="t")
    cues = [[0, 1000, "a <b> & c --> d"], [1000, 2000, "两行\n\n之间"], [2000, 3000, "  "]]
    part = VideoPart.objects.create(video=video, page=1, cid=7, transcript_cues=cues)

    vtt = part_transcript_vtt(part)

    assert vtt == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na &lt;b&gt; &amp; c --&gt; d\n\n"
        "00:00:01.000 --> 00:00:02.000\n两行\n之间\n"
    )
    assert [cue.start_ms for cue in transcript_from_webvtt(vtt).cues] == [0, 1000]


@pytest.fixture
def noted_part() -> VideoPart:
    video = Video.objects.create(
        bvid="BV1xx411c7mD",
        aid=2,
        title='红烧肉: "家常" 做法\n第二行',
        owner_name="阿婆的厨房",
        duration_seconds=4000,
        published_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    )
    return VideoPart.objects.create(video=video, page=2, cid=7, title="P2 收汁", duration_seconds=3725)


CHAPTERS = [
    {"start_ms": 0, "end_ms": 60_000, "title": "备料", "gist": "选五花肉"},
    {"start_ms": 60_000, "end_ms": 3_725_000, "title": "炒糖色: 关键", "gist": ""},
]


def test_front_matter_for_obsidian_and_logseq(noted_part: VideoPart) -> None:
    assert part_front_matter(noted_part, chapters=CHAPTERS) == (
        "---\n"
        'title: "红烧肉: \\"家常\\" 做法\\n第二行"\n'
        'url: "https://www.bilibili.com/video/BV1xx411c7mD?p=2"\n'
        'bvid: "BV1xx411c7mD"\n'
        "part: 2\n"
        'part_title: "P2 收汁"\n'
        'uploader: "阿婆的厨房"\n'
        'duration: "1:02:05"\n'
        "duration_seconds: 3725\n"
        'published: "2024-05-01"\n'
        "tags:\n"
        '  - "bilibili"\n'
        '  - "chatbili"\n'
        "chapters:\n"
        '  - "00:00 备料"\n'
        '  - "01:00 炒糖色: 关键"\n'
        "---\n"
    )


def test_front_matter_is_yaml_that_reads_back(noted_part: VideoPart) -> None:
    noted_part.video.title = "a: b # c\u2028- [x] {y}\x85"
    text = part_front_matter(noted_part, chapters=CHAPTERS)
    data = yaml.safe_load(text.removeprefix("---\n").removesuffix("---\n"))
    assert data["title"] == "a: b # c\u2028- [x] {y}\x85"
    assert (data["part"], data["tags"], data["chapters"][1]) == (2, ["bilibili", "chatbili"], "01:00 炒糖色: 关键")


def test_front_matter_without_chapters_or_a_date(part: VideoPart) -> None:
    text = part_front_matter(part)
    assert "chapters" not in text and "published" not in text
    assert 'duration: "00:00"\n' in text


def test_the_vtt_download(client: Client, part: VideoPart) -> None:
    part.stage = VideoPart.Stage.READY
    part.save()
    client.force_login(User.objects.create_user("alice"))

    response = client.get("/videos/BV1xx411c7mD/2/transcript.vtt")

    assert response["Content-Type"] == "text/vtt; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="BV1xx411c7mD-p2.vtt"'
    assert response.content.decode() == part_transcript_vtt(part)


@pytest.mark.django_db(transaction=True)
async def test_the_api_gives_the_transcript_as_vtt() -> None:
    await ready_part()
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1/transcript", params={"format": "vtt"})

    part = await VideoPart.objects.select_related("video").aget(video__bvid="BV1xx411c7mD", page=1)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/vtt; charset=utf-8"
    assert response.text == part_transcript_vtt(part)

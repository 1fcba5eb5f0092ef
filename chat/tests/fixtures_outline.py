"""Parts for the chapter, section and mind-map tests: uneven, real-looking cue times."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async

from chat.timestamps import TIMESTAMP_PATTERN
from videos.chunking import chunks_for_transcript
from videos.models import Chunk, Video, VideoPart
from videos.types import Cue, Transcript

_numbers = itertools.count(1)
TOPICS = ["红烧肉的选料", "焯水去腥", "炒糖色", "慢炖收汁", "装盘技巧", "常见失误"]


def lecture_cues(count: int, *, step_ms: int = 7_300, topics: Sequence[str] = TOPICS) -> list[Cue]:
    """Lines at uneven times (no cue starts on a whole second), topic by topic in order."""
    cues = []
    for n in range(count):
        topic = topics[n * len(topics) // count]
        start = 1_250 + n * step_ms + (n % 3) * 111
        cues.append(Cue(start, start + step_ms - 400, f"第{n}句：我们来说说{topic}，这是{topic}的第{n}个要点。"))
    return cues


def make_part(
    cues: Sequence[Cue], *, duration_seconds: int = 0, uploader_chapters: list[dict] | None = None
) -> VideoPart:
    """A ready part with its cues and real (overlapping) chunks, as ingestion stores them."""
    number = next(_numbers)
    video = Video.objects.create(bvid=f"BV1ch{number:07d}", aid=900_000 + number, title="红烧肉全攻略")
    part = VideoPart.objects.create(
        video=video,
        page=1,
        cid=900_000 + number,
        title="P1",
        duration_seconds=duration_seconds,
        stage=VideoPart.Stage.READY,
        transcript_cues=[[cue.start_ms, cue.end_ms, cue.text] for cue in cues],
        uploader_chapters=uploader_chapters or [],
    )
    drafts = chunks_for_transcript(
        Transcript(list(cues), source="subtitle"), target_tokens=60, max_tokens=100, overlap_tokens=20
    )
    Chunk.objects.bulk_create(
        Chunk(part=part, ordinal=n, start_ms=d.start_ms, end_ms=d.end_ms, text=d.text, token_count=d.token_count)
        for n, d in enumerate(drafts)
    )
    return part


amake_part = sync_to_async(make_part)


async def collect(stream: Any) -> list[dict]:
    return [event async for event in stream]


def is_structured(body: dict) -> bool:
    return "response_format" in body


def is_section_map(body: dict) -> bool:
    return "这一段也会成为视频的一个章节" in body["messages"][0]["content"]


def section_reply(body: dict) -> str:
    """A map reply for a section: its title and gist from its first line's topic, two notes."""
    text = body["messages"][1]["content"].split("：\n", 1)[-1]  # the transcript, after "内容（…）："
    stamps = [match.group(0) for match in TIMESTAMP_PATTERN.finditer(text)]
    topic = re.search(r"我们来说说(.+?)，", text)
    name = topic.group(1) if topic else "未知"
    return f"## {name}\n> 这一段讲{name}。\n- {stamps[0]} 开头讲{name}\n- {stamps[-1]} 最后总结{name}\n"


def chapters_json(*chapters: tuple[str, str, str]) -> str:
    return json.dumps(
        {"chapters": [{"start": start, "title": title, "gist": gist} for start, title, gist in chapters]},
        ensure_ascii=False,
    )

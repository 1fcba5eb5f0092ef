"""A small library for tests: two ready videos (both say how to make 糖色), owned through
VideoRequest, and a collection of them; a fake LLM reply that cites two videos' labels; the
videos' complete summaries (what a series summary reads)."""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from chat.models import Summary
from chat.summary_keys import summary_key
from tests.factories import COOKING_LINES, cues_from_lines, ready_part
from videos.models import Collection, CollectionItem, VideoPart, VideoRequest

WINGS_LINES = [
    "今天做可乐鸡翅，简单又好吃。",
    "鸡翅两面划几刀，方便入味。",
    "冷水下锅焯水，加姜片去腥。",
    "锅里少许油，放冰糖小火炒糖色。",
    "糖色冒小泡变成琥珀色就下鸡翅。",
    "倒入一罐可乐，没过鸡翅。",
    "大火烧开转中火炖十五分钟。",
    "最后大火收汁，撒白芝麻出锅。",
]
PORK = "BV1xx411c7mD"
WINGS = "BV1GJ411x7h7"
LABEL = re.compile(r"\[V(\d+) (\d{2}:\d{2})\]")


async def ready_video(bvid: str, lines: list[str], title: str, owner_name: str) -> VideoPart:
    part = await ready_part(cues_from_lines(lines), bvid=bvid, title=title)
    await type(part.video).objects.filter(pk=part.video_id).aupdate(title=title, owner_name=owner_name)
    return await VideoPart.objects.select_related("video").aget(pk=part.pk)


async def two_videos() -> tuple[VideoPart, VideoPart]:
    pork = await ready_video(PORK, COOKING_LINES, "红烧肉的做法", "老饭骨")
    wings = await ready_video(WINGS, WINGS_LINES, "可乐鸡翅", "小高姐")
    return pork, wings


def own(user: User, *parts: VideoPart) -> None:
    """The parts' videos are in the user's history (their library)."""
    for part in parts:
        VideoRequest.objects.get_or_create(user=user, video_id=part.video_id)


aown = sync_to_async(own)


def collection_of(user: User, *parts: VideoPart, title: str = "家常菜") -> Collection:
    """A collection of the user's with the parts as ready items, in order."""
    collection = Collection.objects.create(owner=user, kind=Collection.Kind.FAVOURITES, source_id=title, title=title)
    for position, part in enumerate(parts):
        CollectionItem.objects.create(
            collection=collection,
            position=position,
            bvid=part.video.bvid,
            page=part.page,
            part=part,
            title=part.video.title,
            state=CollectionItem.State.READY,
        )
    return collection


acollection_of = sync_to_async(collection_of)


def cite_two_videos(request: dict[str, Any]) -> str:
    """The fake LLM's reply: the first label of each of two different videos, copied from the prompt."""
    prompt = request["messages"][-1]["content"]
    first: dict[str, str] = {}
    for source, time in LABEL.findall(prompt):
        first.setdefault(source, time)
    cited = list(first.items())[:2]
    return "两种做法都先炒糖色：" + "；".join(f"这里 [V{source} {time}]" for source, time in cited) + "。"


def summarise(part: VideoPart, points: list[tuple[int, str]]) -> Summary:
    """A complete current summary of the part (as chat.summaries stores one) with these key points."""
    key = summary_key(part_id=part.pk, language="zh")
    lines = "\n".join(f"- [{ms // 60000:02d}:{ms // 1000 % 60:02d}] {text}" for ms, text in points)
    return Summary.objects.create(
        part=part,
        language="zh",
        prompt_version=key.prompt_version,
        model=key.model,
        style=key.style,
        status=Summary.Status.COMPLETE,
        content=f"## 摘要\n{part.video.title}的做法。\n\n## 要点\n{lines}",
        key_points=[{"start_ms": ms, "text": text} for ms, text in points],
        completed_at=timezone.now(),
    )


asummarise = sync_to_async(summarise)


async def summarised_collection(user: Any) -> tuple[Any, VideoPart, VideoPart]:
    """The user's collection of the two videos, each with a complete summary of two key points."""
    pork, wings = await two_videos()
    await asummarise(pork, [(120_000, "炒糖色"), (220_000, "小火慢炖")])
    await asummarise(wings, [(60_000, "炒糖色"), (100_000, "倒可乐")])
    return await acollection_of(user, pork, wings), pork, wings

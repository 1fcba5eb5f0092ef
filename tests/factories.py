"""Build videos the way ingestion does (chunking, embeddings, the atomic swap), for tests."""

from __future__ import annotations

from collections.abc import Sequence

from asgiref.sync import sync_to_async

from videos import services
from videos.chunking import chunks_for_transcript
from videos.embeddings import embed_texts, embedding_space
from videos.models import Video, VideoPart
from videos.types import Cue, Transcript

COOKING_LINES = [
    "大家好，欢迎来到今天的厨房。",
    "今天我们做一道经典的红烧肉。",
    "首先选五花肉，肥瘦相间的最好。",
    "把肉切成三厘米左右的方块。",
    "冷水下锅焯水，加料酒和姜片去腥。",
    "焯好的肉捞出来用温水洗干净。",
    "锅里放少许油，小火炒冰糖。",
    "糖色变成枣红色就可以下肉了。",
    "翻炒均匀，让每块肉都裹上糖色。",
    "加入生抽、老抽和八角桂皮。",
    "倒入开水，没过肉块，大火烧开。",
    "转小火慢炖一个小时左右。",
    "最后大火收汁，汤汁浓稠就好了。",
    "出锅前可以撒点葱花。",
    "这道菜的关键是炒糖色不要炒糊。",
    "好了，今天的视频就到这里，记得点赞投币。",
]


def cues_from_lines(lines: Sequence[str], *, seconds_apart: int = 20) -> list[Cue]:
    step = seconds_apart * 1000
    return [Cue(index * step, index * step + step - 500, text) for index, text in enumerate(lines)]


async def ready_part(
    cues: Sequence[Cue] | None = None,
    *,
    bvid: str = "BV1xx411c7mD",
    page: int = 1,
    title: str = "红烧肉的做法",
    target_tokens: int = 40,
) -> VideoPart:
    """A ready part whose transcript went through the real chunking, embedding and storing."""
    cues = list(cues or cues_from_lines(COOKING_LINES))
    video, _ = await Video.objects.aget_or_create(bvid=bvid, defaults={"aid": 1, "title": title})
    part = await VideoPart.objects.acreate(video=video, page=page, cid=1000 + page, title=f"P{page}")
    transcript = Transcript(cues=cues, source="subtitle", language="zh-CN")
    drafts = chunks_for_transcript(transcript, target_tokens=target_tokens, max_tokens=80, overlap_tokens=0)
    vectors = await embed_texts([draft.text for draft in drafts])
    return await sync_to_async(services.part_chunks_replace)(
        part_id=part.pk, worker=None, transcript=transcript, drafts=drafts, vectors=vectors, space=embedding_space()
    )

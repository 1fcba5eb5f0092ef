"""Fresh metadata updates a video in place; a replaced part loses its old chunks, not its history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from chat.models import Conversation
from videos.models import Chunk, Video, VideoPart
from videos.services import video_upsert
from videos.types import PartInfo, VideoInfo

pytestmark = pytest.mark.django_db


def info(*cids: int, title: str = "标题") -> VideoInfo:
    parts = [
        PartInfo(page=number, cid=cid, title=f"P{number}", duration_seconds=60) for number, cid in enumerate(cids, 1)
    ]
    return VideoInfo("BV1xx411c7mD", 2, title, "", 1, "up", "", 120, 1_700_000_000, {"view": 1}, parts)


def test_upsert_creates_then_updates_in_place() -> None:
    video = video_upsert(info=info(11, 12))
    assert [(p.page, p.cid) for p in video.parts.order_by("page")] == [(1, 11), (2, 12)]
    again = video_upsert(info=info(11, 12, title="新标题"))
    assert again.pk == video.pk
    assert Video.objects.get().title == "新标题"
    assert VideoPart.objects.count() == 2


def test_a_replaced_part_keeps_its_conversations() -> None:
    video = video_upsert(info=info(11))
    part = video.parts.get()
    VideoPart.objects.filter(pk=part.pk).update(stage=VideoPart.Stage.READY, transcript_cues=[[0, 1, "旧"]])
    Chunk.objects.create(part=part, ordinal=0, start_ms=0, end_ms=1, text="旧", token_count=1)
    conversation = Conversation.objects.create(user=User.objects.create(username="u"), part=part)

    video_upsert(info=info(99))

    part.refresh_from_db()
    assert (part.cid, part.transcript_cues, part.stage) == (99, [], VideoPart.Stage.FAILED)
    assert (part.error_code, part.error_params) == ("part_replaced", {})
    assert part.error_text("en") == "The uploader replaced this part; process it again"
    assert not Chunk.objects.filter(part=part).exists()
    assert Conversation.objects.filter(pk=conversation.pk).exists()

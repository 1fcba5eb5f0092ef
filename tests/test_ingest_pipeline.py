"""Ingestion end to end against local fake Bilibili, bcut and embedding servers."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.errors import AppError
from tests.fakes.bcut import FakeBcut
from tests.fakes.bilibili import (
    MULTI_PART_CIDS,
    FakeBilibili,
)
from tests.fakes.openai import FakeOpenAI
from videos import services
from videos.embeddings import embedding_space
from videos.ingest import part_ingest
from videos.models import Chunk, Video, VideoPart
from videos.progress import video_group_name
from videos.submission import requeue_stale_parts, video_submit

pytestmark = [pytest.mark.django_db(transaction=True)]

NO_DANMAKU = {"bucket_seconds": 10, "counts": [], "top_texts": [], "total": 0}


async def ingest(link: str) -> VideoPart:
    part = await video_submit(link)
    await sync_to_async(services.part_queue)(part_id=part.pk)
    assert await part_ingest(part.pk)
    return await VideoPart.objects.select_related("video").aget(pk=part.pk)


def call_command_and_close(*args: str, **options: Any) -> None:
    """Run a command in this (worker) thread and close the thread's database connection."""
    try:
        call_command(*args, **options)
    finally:
        connections.close_all()


async def run_command(*args: str) -> str:
    out = io.StringIO()
    await asyncio.to_thread(call_command_and_close, *args, stdout=out)
    return out.getvalue()


async def chunk_texts(part: VideoPart) -> list[str]:
    return [text async for text in Chunk.objects.filter(part=part).order_by("ordinal").values_list("text", flat=True)]


async def test_multi_part_link_ingests_the_requested_part(bilibili: FakeBilibili, bcut: FakeBcut) -> None:
    part = await ingest("https://www.bilibili.com/video/BV17x411w7KC?p=2&spm_id_from=333.1007")
    assert part.page == 2
    assert part.cid == MULTI_PART_CIDS[1]
    assert await VideoPart.objects.filter(video=part.video).acount() == 10
    assert part.stage == VideoPart.Stage.READY, part.error_code
    assert bcut.uploaded_bytes == f"m4s-64k-{MULTI_PART_CIDS[1]}".encode()
    assert part.danmaku["total"] == 6
    assert [call.path for call in bilibili.calls(f"/{MULTI_PART_CIDS[1]}.xml")]
    others = VideoPart.objects.filter(video=part.video).exclude(pk=part.pk)
    assert not await others.filter(stage=VideoPart.Stage.READY).aexists()


async def test_human_subtitles_win_over_ai(bilibili: FakeBilibili) -> None:
    part = await ingest("BV117411r7R1")
    assert part.stage == VideoPart.Stage.READY, part.error_code
    assert part.transcript_source == VideoPart.TranscriptSource.SUBTITLE
    assert part.transcript_language == "zh-CN"
    texts = " ".join(await chunk_texts(part))
    assert "今天讲快板" in texts
    assert "自动生成" not in texts
    chunk = await Chunk.objects.filter(part=part).afirst()
    assert chunk.start_ms == 7940
    assert chunk.embedding_model == embedding_space()
    assert part.transcript_cues[0] == [7940, 8960, "大家好"]
    assert part.danmaku == NO_DANMAKU  # the part has an empty danmaku pool


async def test_wrong_track_ai_subtitle_falls_back_to_asr(bilibili: FakeBilibili, bcut: FakeBcut) -> None:
    part = await ingest("https://m.bilibili.com/video/BV1MU411S7iJ")
    assert part.stage == VideoPart.Stage.READY, part.error_code
    assert part.transcript_source == VideoPart.TranscriptSource.ASR
    assert "红烧肉" in " ".join(await chunk_texts(part))
    assert bcut.uploaded_bytes == b"m4s-64k-1214627038", "the smallest audio stream is transcribed"


async def test_no_subtitles_ends_in_bcut_success(bilibili: FakeBilibili, bcut: FakeBcut) -> None:
    part = await ingest("av498159642")
    assert part.stage == VideoPart.Stage.READY, part.error_code
    assert part.transcript_source == VideoPart.TranscriptSource.ASR
    chunks = [chunk async for chunk in Chunk.objects.filter(part=part).order_by("ordinal")]
    assert chunks[0].start_ms == 0
    assert chunks[-1].end_ms == 12500
    assert part.danmaku == NO_DANMAKU


async def test_bcut_failure_marks_the_part_failed_and_stores_nothing(bilibili: FakeBilibili, bcut: FakeBcut) -> None:
    bcut.fail_remark = "音频解析失败"
    part = await ingest("av498159642")
    assert (part.stage, part.error_code, part.error_params) == (
        VideoPart.Stage.FAILED,
        "asr_task_failed",
        {"remark": "音频解析失败"},
    )
    assert part.error_text("en") == "bcut speech recognition failed: 音频解析失败"
    assert part.claimed_by == ""
    assert await Chunk.objects.filter(part=part).acount() == 0


async def test_risk_control_once_then_success(bilibili: FakeBilibili) -> None:
    bilibili.fail_next("/x/web-interface/view", "json", times=1, body={"code": -352, "message": "风控校验失败"})
    part = await ingest("BV117411r7R1")
    assert part.stage == VideoPart.Stage.READY, part.error_code


async def test_private_video_is_refused_and_nothing_is_written(bilibili: FakeBilibili) -> None:
    with pytest.raises(AppError) as error:
        await video_submit("https://www.bilibili.com/video/BV1L9Uoa9EUx")
    assert (error.value.code, error.value.retryable) == ("video_private", False)
    assert error.value.message("zh") == (
        "这个视频目前不公开（UP 主设为私密或已隐藏），ChatBili 无法读取：请换一个视频，或等它重新公开后再试"
    )
    assert await Video.objects.acount() == 0


async def test_short_link_off_bilibili_is_refused(bilibili: FakeBilibili) -> None:
    with pytest.raises(AppError) as error:
        await video_submit("【快来看】 https://b23.tv/offsite")
    assert (error.value.code, error.value.details) == ("invalid_link", {"reason": "short_link_offsite"})
    assert await Video.objects.acount() == 0
    assert not [call for call in bilibili.requests if "qq.com" in call.path]


async def test_short_link_to_a_part(bilibili: FakeBilibili) -> None:
    part = await video_submit("【MV】保加利亚妖王 https://b23.tv/pigt3PQ")
    assert (part.video.bvid, part.page, part.cid) == ("BV17x411w7KC", 2, MULTI_PART_CIDS[1])


@pytest.mark.parametrize(
    ("second_link", "page", "requests"),
    [
        ("https://www.bilibili.com/video/BV17x411w7KC?p=3", 3, []),
        ("av170001", 1, []),
        ("https://b23.tv/pigt3PQ", 2, ["/pigt3PQ"]),  # only its one redirect lookup
    ],
)
async def test_a_known_video_is_not_fetched_again(
    bilibili: FakeBilibili, second_link: str, page: int, requests: list[str]
) -> None:
    await video_submit("BV17x411w7KC")
    assert [call.path for call in bilibili.requests] == ["/x/frontend/finger/spi", "/x/web-interface/view"]
    bilibili.requests.clear()
    part = await video_submit(second_link)
    assert (part.video.bvid, part.page) == ("BV17x411w7KC", page)
    assert [call.path for call in bilibili.requests] == requests


async def test_a_part_not_stored_for_a_known_video_fetches_the_metadata_once_more(bilibili: FakeBilibili) -> None:
    """The uploader may have added the part since; Bilibili's answer decides."""
    await video_submit("BV117411r7R1")
    bilibili.requests.clear()
    with pytest.raises(AppError) as error:
        await video_submit("https://www.bilibili.com/video/BV117411r7R1?p=5")
    assert (error.value.code, error.value.params) == ("no_such_part", {"page": 5, "count": 1})
    assert [call.path for call in bilibili.requests] == ["/x/frontend/finger/spi", "/x/web-interface/view"]


async def test_missing_part_number_is_refused(bilibili: FakeBilibili) -> None:
    with pytest.raises(AppError) as error:
        await video_submit("https://www.bilibili.com/video/BV117411r7R1?p=5")
    assert (error.value.code, error.value.message("en")) == ("no_such_part", "This video has no part 5 (it has 1)")
    assert await Video.objects.acount() == 0


async def test_progress_is_broadcast_to_the_video_group(bilibili: FakeBilibili) -> None:
    part = await video_submit("BV117411r7R1")
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(video_group_name(part.video.bvid), channel)
    await sync_to_async(services.part_queue)(part_id=part.pk)
    await part_ingest(part.pk)
    stages = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
        except TimeoutError:
            break
        assert message["type"] == "ingest.progress"
        stages.append(message["stage"])
    order = ["metadata", "transcript", "chunks", "embeddings", "ready"]
    assert [stage for stage in order if stage in stages] == order
    assert stages[-1] == "ready"


async def test_failed_reingest_keeps_the_old_chunks(bilibili: FakeBilibili, fake_server: Any, settings: Any) -> None:
    part = await ingest("BV117411r7R1")
    before = [(chunk.pk, chunk.text) async for chunk in Chunk.objects.filter(part=part).order_by("ordinal")]
    assert before
    broken = FakeOpenAI(always_fail=500)
    fake_server(broken.app, OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    settings.EMBEDDING_RETRY_ATTEMPTS = 1
    await sync_to_async(services.part_queue)(part_id=part.pk, force=True)
    await part_ingest(part.pk)
    await part.arefresh_from_db()
    assert part.stage == VideoPart.Stage.FAILED
    after = [(chunk.pk, chunk.text) async for chunk in Chunk.objects.filter(part=part).order_by("ordinal")]
    assert after == before


async def test_two_workers_on_one_part_run_one_pipeline(bilibili: FakeBilibili) -> None:
    part = await video_submit("BV117411r7R1")
    await sync_to_async(services.part_queue)(part_id=part.pk)
    results = await asyncio.gather(part_ingest(part.pk, worker="worker-a"), part_ingest(part.pk, worker="worker-b"))
    assert sorted(results) == [False, True]
    assert len(bilibili.calls("/x/player/wbi/v2")) == 1


async def test_a_part_whose_worker_died_is_queued_again(bilibili: FakeBilibili) -> None:
    part = await video_submit("BV117411r7R1")
    await VideoPart.objects.filter(pk=part.pk).aupdate(
        stage=VideoPart.Stage.TRANSCRIPT,
        claimed_by="dead-host:1",
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )
    assert await sync_to_async(requeue_stale_parts)() == [part.pk]
    assert await DBTaskResult.objects.acount() == 1
    assert await part_ingest(part.pk, worker="fresh-worker")
    await part.arefresh_from_db()
    assert part.stage == VideoPart.Stage.READY


async def test_a_live_claim_is_not_taken(bilibili: FakeBilibili) -> None:
    part = await video_submit("BV117411r7R1")
    await VideoPart.objects.filter(pk=part.pk).aupdate(
        stage=VideoPart.Stage.TRANSCRIPT, claimed_by="busy-host:1", heartbeat_at=timezone.now()
    )
    assert not await sync_to_async(services.part_queue)(part_id=part.pk)
    assert not await part_ingest(part.pk, worker="other")


async def test_reembed_moves_every_chunk_to_the_new_model(
    bilibili: FakeBilibili, fake_server: Any, settings: Any
) -> None:
    part = await ingest("BV117411r7R1")
    offline_space = embedding_space()
    openai = FakeOpenAI()
    fake_server(openai.app, OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    assert embedding_space() != offline_space
    await run_command("reembed")
    spaces = {space async for space in Chunk.objects.filter(part=part).values_list("embedding_model", flat=True)}
    assert spaces == {embedding_space()}
    assert openai.embedded_inputs


async def test_ingest_command_exits_non_zero_with_the_reason(bilibili: FakeBilibili) -> None:
    with pytest.raises(CommandError) as error:
        await run_command("ingest", "BV1L9Uoa9EUx")
    assert str(error.value) == (
        "BV1L9Uoa9EUx: "
        "这个视频目前不公开（UP 主设为私密或已隐藏），ChatBili 无法读取："
        "请换一个视频，或等它重新公开后再试"
    )


async def test_ingest_command_reports_ready(bilibili: FakeBilibili) -> None:
    out = await run_command("ingest", "BV117411r7R1")
    assert "100%" in out
    assert "ready" in out
    assert await VideoPart.objects.filter(stage=VideoPart.Stage.READY).acount() == 1


async def test_import_transcript_command(bilibili: FakeBilibili, tmp_path: Path) -> None:
    srt = tmp_path / "p1.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,500\n导入的字幕第一行\n\n2\n00:01:00,000 --> 00:01:02,000\n第二行\n")
    await run_command("import_transcript", "BV1ex411J7GE", str(srt))
    part = await VideoPart.objects.aget(video__bvid="BV1ex411J7GE", page=1)
    assert part.stage == VideoPart.Stage.READY
    assert part.transcript_source == VideoPart.TranscriptSource.IMPORTED
    assert "导入的字幕第一行" in " ".join(await chunk_texts(part))
    assert part.transcript_cues[-1] == [60000, 62000, "第二行"]

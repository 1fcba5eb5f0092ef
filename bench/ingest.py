"""Ingestion bench: a 2-hour synthetic transcript (~2,000 lines) through chunk → embed → store.

The embeddings come from the local fake OpenAI-compatible server, run in a separate process
with a fixed delay per request, so this process's CPU time is our code's own cost.
Run: .venv/bin/python bench/ingest.py [--lines 2000] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

from common import bench_database, free_port, machine, setup_django, start_fake_openai

PHRASES = [
    "大家好欢迎回到我的频道", "今天我们来聊一聊显卡的选购", "首先看一下这张卡的外观设计", "散热器采用了三风扇方案",
    "满载温度大概在七十度左右", "接下来我们跑一下游戏测试", "在四K分辨率下帧数非常稳定", "功耗方面比上一代降低了不少",
    "价格是大家最关心的问题", "如果你预算有限可以考虑这一款", "这里有个小细节需要注意", "驱动更新之后性能又提升了",
    "评论区有朋友问到了噪音", "实际听感还是比较安静的", "总的来说这是一张很均衡的卡", "好了今天的视频就到这里",
]  # fmt: skip


def synthetic_cues(lines: int, seconds: int = 7200) -> list:
    from videos.types import Cue

    rng = random.Random(42)
    step = seconds * 1000 // lines
    cues = []
    for index in range(lines):
        start = index * step
        text = rng.choice(PHRASES) + ("。" if rng.random() < 0.3 else "")
        cues.append(Cue(start_ms=start, end_ms=start + step - 200, text=text))
    return cues


async def run(lines: int) -> dict:
    from asgiref.sync import sync_to_async
    from django.db import connections

    from core.tokens import count_tokens
    from videos import services
    from videos.chunking import chunks_for_transcript
    from videos.embeddings import embed_texts, embedding_space
    from videos.models import Video, VideoPart
    from videos.types import Transcript

    video = await Video.objects.acreate(bvid="BV1bench0000", aid=1, title="bench")
    part = await VideoPart.objects.acreate(video=video, page=1, cid=1, duration_seconds=7200)
    transcript = Transcript(cues=synthetic_cues(lines), source="subtitle", language="zh-CN")

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    drafts = chunks_for_transcript(transcript)
    chunked = time.perf_counter()
    vectors = await embed_texts([draft.text for draft in drafts])
    embedded = time.perf_counter()
    await sync_to_async(services.part_chunks_replace)(
        part_id=part.pk, worker=None, transcript=transcript, drafts=drafts, vectors=vectors, space=embedding_space()
    )
    stored = time.perf_counter()
    await sync_to_async(connections.close_all)()
    return {
        "lines": lines,
        "transcript_tokens": sum(count_tokens(cue.text) for cue in transcript.cues),
        "chunks": len(drafts),
        "chunk_tokens": sum(draft.token_count for draft in drafts),
        "chunk_s": chunked - wall_start,
        "embed_s": embedded - chunked,
        "store_s": stored - embedded,
        "total_s": stored - wall_start,
        "cpu_s": time.process_time() - cpu_start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.2, help="fake embeddings delay per request (s)")
    args = parser.parse_args()

    port = free_port()
    os.environ.update(
        {"OPENAI_API_KEY": "bench-key", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OUTBOUND_PROXY": ""}
    )
    setup_django()
    from django.conf import settings

    fake = start_fake_openai(port, embedding_delay=args.delay)
    try:
        with bench_database("bench_ingest"):
            figures = asyncio.run(run(args.lines))
    finally:
        fake.terminate()
        fake.wait()

    batches = -(-figures["chunks"] // settings.EMBEDDING_BATCH_SIZE)
    print(f"machine: {machine()}")
    print(
        f"fake embeddings delay {args.delay:.2f} s per request; batch size {settings.EMBEDDING_BATCH_SIZE}, "
        f"concurrency {settings.EMBEDDING_CONCURRENCY}"
    )
    print(f"transcript: {figures['lines']} lines, {figures['transcript_tokens']} tokens, 2 h")
    print(f"chunks: {figures['chunks']} ({figures['chunk_tokens']} tokens incl. overlap), ≥{batches} embedding batches")
    print(
        f"time: total {figures['total_s']:.2f} s = chunk {figures['chunk_s']:.2f} s + embed {figures['embed_s']:.2f} s "
        f"+ store {figures['store_s']:.2f} s"
    )
    print(f"time outside network waits (this process's CPU time): {figures['cpu_s']:.2f} s")


if __name__ == "__main__":
    main()

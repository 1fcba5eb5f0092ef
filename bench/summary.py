"""Summary figures for a 2-hour transcript against the local fake OpenAI server.

    .venv/bin/python bench/summary.py [--minutes 120] [--token-delay 0.01]

Reports LLM calls, prompt tokens ÷ transcript tokens (tiktoken cl100k on both sides), the time
to first token our code adds over the fake's own delay on the critical path, and the latency of
a cached summary. Runs on a throwaway database (`bench_chatbili`) on the embedded PostgreSQL,
with the test settings: no real network is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["TEST_DATABASE_NAME"] = "bench_chatbili"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from chat.llm import estimate_prompt_tokens  # noqa: E402
from chat.models import Summary, UsageRecord  # noqa: E402
from chat.summaries import summary_stream  # noqa: E402
from core.tokens import count_tokens  # noqa: E402
from tests.fakes.openai import FakeOpenAI, fake_tokens  # noqa: E402
from tests.fakes.server import LocalServer  # noqa: E402
from videos.chunking import chunks_for_transcript  # noqa: E402
from videos.models import Chunk, Video, VideoPart  # noqa: E402
from videos.types import Cue, Transcript  # noqa: E402

MAP_REPLY = (
    "## 量子计算的一个要点\n> 这一段讲了量子计算。\n- [00:00] "
    + "这一段讲了量子计算的一个要点，包括它的原理、例子和结论。" * 2
)
# A short part's chapters: one structured-output call (chat.summaries.chaptering).
CHAPTERS_REPLY = '{"chapters": [{"start": "00:00", "title": "开场", "gist": "介绍量子计算"}, ' + (
    '{"start": "05:00", "title": "后半", "gist": "讲量子纠错"}]}'
)
REDUCE_REPLY = "## 摘要\n" + "这期视频完整讲解了量子计算。" * 4 + "\n\n## 要点\n" + "- 📌 [00:00] 开场介绍\n" * 8
SUBJECTS = ["量子比特", "叠加态", "量子纠缠", "量子门", "退相干", "纠错码", "超导芯片", "离子阱", "量子优越性"]


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()} ({platform.system()})"


def lecture(minutes: int) -> list[Cue]:
    """A line every 4 s, each different, cycling through the subjects."""
    cues = []
    for n in range(minutes * 15):
        subject = SUBJECTS[n * len(SUBJECTS) // (minutes * 15)]
        text = f"第{n}句：接下来我们讨论{subject}在实际系统中的表现，以及第{n % 7 + 1}个常见误区。"
        cues.append(Cue(n * 4000, n * 4000 + 3500, text))
    return cues


def make_part(cues: list[Cue], number: int) -> VideoPart:
    video = Video.objects.create(bvid=f"BV1bench{number:04d}", aid=number, title="量子计算两小时精讲")
    part = VideoPart.objects.create(
        video=video,
        page=1,
        cid=number,
        title="全集",
        stage=VideoPart.Stage.READY,
        transcript_cues=[[cue.start_ms, cue.end_ms, cue.text] for cue in cues],
    )
    drafts = chunks_for_transcript(Transcript(cues, source="subtitle"))
    Chunk.objects.bulk_create(
        Chunk(part=part, ordinal=n, start_ms=d.start_ms, end_ms=d.end_ms, text=d.text, token_count=d.token_count)
        for n, d in enumerate(drafts)
    )
    return part


def fake_reply(body: dict) -> str:
    return MAP_REPLY if "其中一段做笔记" in body["messages"][0]["content"] else REDUCE_REPLY


async def timed_summary(part: VideoPart) -> tuple[float, float, list[dict], list[float]]:
    """(seconds to the first token event, seconds to done, events, seconds to each event)."""
    started = time.perf_counter()
    first = math.nan
    events, times = [], []
    async for event in summary_stream(part, "zh", None):
        if event["type"] == "token" and math.isnan(first):
            first = time.perf_counter() - started
        events.append(event)
        times.append(time.perf_counter() - started)
    return first, time.perf_counter() - started, events, times


def fake_delay_on_critical_path(fake: FakeOpenAI, token_delay: float) -> float:
    """The fake's own sleeps before our first token: map rounds (each a whole map reply), then the
    reduce's first token. Maps run SUMMARY_MAP_CONCURRENCY at a time."""
    maps = sum("其中一段做笔记" in request.body["messages"][0]["content"] for request in fake.requests)
    rounds = math.ceil(maps / getattr(settings, "SUMMARY_MAP_CONCURRENCY", 4)) if maps else 0
    return rounds * len(fake_tokens(MAP_REPLY)) * token_delay + token_delay


async def run_case(label: str, minutes: int, token_delay: float, number: int) -> None:
    from asgiref.sync import sync_to_async

    fake = FakeOpenAI(reply=fake_reply, token_delay=token_delay, json_reply=CHAPTERS_REPLY)
    server = LocalServer(fake.app).start()
    settings.OPENAI_BASE_URL = f"{server.url}/v1"
    try:
        cues = lecture(minutes)
        part = await sync_to_async(make_part)(cues, number)
        transcript_tokens = sum(count_tokens(cue.text) for cue in cues)
        first, total, events, times = await timed_summary(part)
        assert events[-1]["type"] == "done", events[-1]
        prompt_tokens = sum(estimate_prompt_tokens(request.body["messages"]) for request in fake.requests)
        map_tokens = sum(
            estimate_prompt_tokens(request.body["messages"])
            for request in fake.requests
            if "其中一段做笔记" in request.body["messages"][0]["content"]
        )
        chapter_tokens = sum(
            estimate_prompt_tokens(request.body["messages"])
            for request in fake.requests
            if "response_format" in request.body
        )
        first_section = next(
            (at for at, event in zip(times, events, strict=True) if event["type"] == "section"), math.nan
        )
        fake_delay = fake_delay_on_critical_path(fake, token_delay)
        cached = [await timed_summary(part) for _ in range(30)]
        cached_ms = sorted(done * 1000 for _, done, _, _ in cached)
        calls_after = len(fake.requests)
    finally:
        server.stop()
    summary = events[-1]["summary"]
    print(f"\n[{label}] {minutes} min transcript, {len(cues)} lines, {transcript_tokens} tokens (cl100k)")
    print(
        f"  mode {summary['mode']}, LLM calls {len(fake.requests)}, "
        f"and {calls_after - len(fake.requests)} more for 30 cached repeats"
    )
    print(
        f"  prompt tokens ÷ transcript tokens: {prompt_tokens / transcript_tokens:.2f} overall, "
        f"{map_tokens / transcript_tokens:.2f} in the map phase"
    )
    print(
        f"  chapters: {len(summary['chapters'])} ({summary['chapters'][0]['source']}), "
        f"{chapter_tokens / transcript_tokens:.2f} of the transcript's tokens in their own call(s); "
        f"first section shown at {first_section:.3f} s"
    )
    print(f"  fake token delay {token_delay * 1000:.0f} ms; fake's own delay before our first token {fake_delay:.2f} s")
    print(f"  time to first token {first:.3f} s → added by our code {first - fake_delay:.3f} s; to done {total:.2f} s")
    print(
        f"  cached summary: p50 {statistics.median(cached_ms):.1f} ms, max {cached_ms[-1]:.1f} ms "
        f"(30 requests, 0 LLM calls)"
    )
    usage = await UsageRecord.objects.acount()
    await UsageRecord.objects.all().adelete()
    await Summary.objects.all().adelete()
    print(f"  usage records written: {usage}")


async def main(minutes: int, token_delay: float) -> None:
    from asgiref.sync import sync_to_async
    from django.db import connections

    try:
        await run_case("long part: map-reduce", minutes, token_delay, 1)
        await run_case("long part, fake without delay: our overhead alone", minutes, 0.0, 2)
        await run_case("short part: one pass", 10, token_delay, 3)
    finally:
        await sync_to_async(connections.close_all)()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--token-delay", type=float, default=0.01)
    args = parser.parse_args()
    settings.OPENAI_API_KEY = "bench-key"
    settings.CHAT_MODEL = "bench-model"
    print(f"machine: {machine()}")
    print(
        "settings: SUMMARY_SINGLE_PASS_TOKENS={}, SUMMARY_SECTION_TOKENS={}, SUMMARY_MAP_CONCURRENCY={}".format(
            getattr(settings, "SUMMARY_SINGLE_PASS_TOKENS", 12000),
            getattr(settings, "SUMMARY_SECTION_TOKENS", 6000),
            getattr(settings, "SUMMARY_MAP_CONCURRENCY", 4),
        )
    )
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        asyncio.run(main(args.minutes, args.token_delay))
    finally:
        from django.db import connections

        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)

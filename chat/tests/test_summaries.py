"""Summaries: one pass or map-reduce over the whole transcript, checked timestamps, the cache,
single-flight across concurrent requests, stale takeover, and failures kept as partial text."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from chat.models import Summary, UsageRecord
from chat.prompts import load_prompt
from chat.selectors import Passage
from chat.services.summaries import summary_claim
from chat.summaries import budget_sections, summary_get_or_generate, summary_stream
from chat.summaries.planning import SUMMARY_LINE_CUES
from chat.summary_keys import SUMMARY_PROMPT_VERSION, summary_key
from chat.timestamps import format_timestamp
from core.errors import AppError
from core.tokens import count_tokens
from tests.fakes.openai import FakeOpenAI, fake_tokens
from videos.chunking import chunks_for_transcript
from videos.models import Chunk, Video, VideoPart
from videos.types import Cue, Transcript

_bvids = itertools.count(1)


def cue_lines(count: int, *, seconds_apart: int = 6, topic: str = "量子计算") -> list[Cue]:
    """Distinct transcript lines, each ending a sentence, `seconds_apart` apart."""
    return [
        Cue(n * seconds_apart * 1000, n * seconds_apart * 1000 + 5000, f"第{n}句讲{topic}的第{n}个细节。")
        for n in range(count)
    ]


def make_part(cues: Sequence[Cue], *, danmaku: dict | None = None, title: str = "量子计算入门") -> VideoPart:
    """A ready part with its cues and real (overlapping) chunks, as ingestion stores them."""
    number = next(_bvids)
    video = Video.objects.create(bvid=f"BV1test{number:05d}", aid=number, title=title)
    part = VideoPart.objects.create(
        video=video,
        page=1,
        cid=number,
        title=title,
        stage=VideoPart.Stage.READY,
        transcript_cues=[[cue.start_ms, cue.end_ms, cue.text] for cue in cues],
        danmaku=danmaku or {},
    )
    drafts = chunks_for_transcript(
        Transcript(list(cues), source="subtitle"), target_tokens=60, max_tokens=100, overlap_tokens=20
    )
    Chunk.objects.bulk_create(
        Chunk(part=part, ordinal=n, start_ms=d.start_ms, end_ms=d.end_ms, text=d.text, token_count=d.token_count)
        for n, d in enumerate(drafts)
    )
    return part


async def collect(stream: Any) -> list[dict]:
    return [event async for event in stream]


def text_of(events: list[dict]) -> str:
    text = ""
    for event in events:
        if event["type"] == "reset":
            text = ""
        elif event["type"] == "token":
            text += event["text"]
    return text


def chunk_starts(part: VideoPart) -> list[int]:
    return list(Chunk.objects.filter(part=part).order_by("start_ms").values_list("start_ms", flat=True))


def is_map(body: dict) -> bool:
    return "其中一段做笔记" in body["messages"][0]["content"]


def is_reduce(body: dict) -> bool:
    return "各段笔记" in body["messages"][1]["content"]


def user_text(body: dict) -> str:
    return body["messages"][1]["content"]


SUMMARY_REPLY = "## 摘要\n这期视频讲量子计算。\n\n## 要点\n- 📌 [00:00] 从第一句讲起\n- 💡 [00:24] 接着讲细节\n"
LLM_REPLY = SUMMARY_REPLY


async def ready_part(cues: Sequence[Cue], **kwargs: Any) -> VideoPart:
    return await sync_to_async(make_part)(cues, **kwargs)


# --- One pass ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_short_part_is_summarized_in_one_streamed_pass(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.005  # tokens apart: one network read bringing the whole reply is one delta
    cues = cue_lines(20)
    part = await ready_part(cues)
    starts = await sync_to_async(chunk_starts)(part)
    events = await collect(summary_stream(part, "zh", None))

    assert events[0] == {
        "type": "start",
        "summary_id": events[0]["summary_id"],
        "cached": False,
        "offline": False,
        "model": "fake-chat",
        "language": "zh",
        "prompt_version": "v2",
    }
    assert [event["type"] for event in events[1:-1]] == ["token"] * (len(events) - 2)
    assert len(events) > 10  # streamed, not sent whole
    done = events[-1]
    assert done["type"] == "done" and done["cached"] is False
    summary = done["summary"]
    assert text_of(events) == summary["content"] == SUMMARY_REPLY
    # one call for the summary, one for its chapters (structured output on the summary: chat.summaries.chaptering)
    assert (summary["status"], summary["mode"], summary["llm_calls"]) == ("complete", "single", 2)
    assert summary["key_points"] == [
        {"start_ms": 0, "text": "📌 从第一句讲起"},
        {"start_ms": 24_000, "text": "💡 接着讲细节"},
    ]
    assert {point["start_ms"] for point in summary["key_points"]} <= set(starts)

    (request,) = llm.text_requests
    prompt = user_text(request.body)
    for cue in cues:
        assert prompt.count(cue.text) == 1  # the whole transcript, each line once
    transcript_part = prompt.split("字幕（每行前是这一行开始的时间）：\n", 1)[1]
    labels = [line.split(" ", 1)[0] for line in transcript_part.splitlines()]
    # lines, not chunks, carry times: short lines go three to a row, each row at its first line's start
    assert labels == [format_timestamp(cue.start_ms) for cue in cues[::SUMMARY_LINE_CUES]]
    assert "用简体中文输出" in request.body["messages"][0]["content"]
    records = [record async for record in UsageRecord.objects.order_by("id")]
    assert [(record.purpose, record.status) for record in records] == [
        ("summary", "complete"),
        ("summary_chapters", "complete"),
    ]
    assert summary["prompt_tokens"] == records[0].prompt_tokens + records[1].prompt_tokens


@pytest.mark.django_db(transaction=True)
async def test_invented_timestamps_are_corrected_or_removed(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))  # 0:00 to 1:59
    starts = await sync_to_async(chunk_starts)(part)
    inside = starts[1] + 2_000  # inside the second chunk, not at its start
    assert inside // 1000 not in {start // 1000 for start in starts}
    llm.reply = (
        "## 摘要\n见 [59:59]。\n\n## 要点\n"
        f"- 📌 [00:00] 真的\n- 🤔 [00:{inside // 1000:02d}] 块中间\n- 👻 [1:02:03] 编造的\n- 🎯 [99:00] 也是编造的\n"
    )
    events = await collect(summary_stream(part, "zh", None))
    content = events[-1]["summary"]["content"]

    assert text_of(events) == content
    assert "[59:59]" not in content and "[1:02:03]" not in content and "[99:00]" not in content
    assert f"- 🤔 [00:{starts[1] // 1000:02d}] 块中间" in content
    assert "- 👻 编造的" in content  # the timestamp is gone, the line stays, with no double space
    key_points = events[-1]["summary"]["key_points"]
    assert [point["start_ms"] for point in key_points] == [0, starts[1]]


@pytest.mark.django_db(transaction=True)
async def test_english_summary_asks_for_english_and_keeps_parsable_headings(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(10))
    llm.reply = "## 摘要 Abstract\nAbout qubits.\n\n## 要点 Key points\n- 📌 [00:00] Start\n"
    events = await collect(summary_stream(part, "en", None))
    assert "in English" in llm.text_requests[0].body["messages"][0]["content"]
    assert "## 要点 Key points" in llm.text_requests[0].body["messages"][0]["content"]
    assert events[-1]["summary"]["key_points"] == [{"start_ms": 0, "text": "📌 Start"}]


# --- Whole-video coverage: map-reduce ------------------------------------------------------------------


def map_reduce_reply(body: dict) -> str:
    if is_map(body):
        first = re.search(r"\[\d\d:\d\d\]", user_text(body))
        return f"- {first.group(0) if first else '[00:00]'} 这一段的笔记"
    return SUMMARY_REPLY


@pytest.mark.django_db(transaction=True)
async def test_a_long_part_is_read_whole_in_sections_then_reduced(llm: FakeOpenAI, settings: Any) -> None:
    settings.SUMMARY_SINGLE_PASS_TOKENS = 400
    settings.SUMMARY_SECTION_TOKENS = 250
    settings.SUMMARY_MAP_CONCURRENCY = 2
    llm.reply, llm.token_delay = map_reduce_reply, 0.002
    cues = cue_lines(120, seconds_apart=30)  # an hour
    part = await ready_part(cues)
    transcript_tokens = sum(count_tokens(cue.text) for cue in cues)
    assert transcript_tokens > 4 * 400

    events = await collect(summary_stream(part, "zh", None))

    maps = [request for request in llm.text_requests if is_map(request.body)]
    reduces = [request for request in llm.text_requests if is_reduce(request.body)]
    assert len(maps) + len(reduces) == len(llm.text_requests) and len(reduces) == 1
    map_texts = [user_text(request.body) for request in maps]
    for cue in cues:  # every line of the transcript was read exactly once in the map phase
        assert sum(text.count(cue.text) for text in map_texts) == 1
    assert all(cue.text not in user_text(reduces[0].body) for cue in cues)
    transcripts = [re.split(r"内容[^\n]*：\n", text, maxsplit=1)[1] for text in map_texts]
    sent = sum(count_tokens(re.sub(r"\[\d\d:\d\d\] ", "", text)) for text in transcripts)
    assert abs(sent - transcript_tokens) <= len(cues)  # the same tokens, give or take the joins
    assert len(maps) >= transcript_tokens // 250
    assert 1 < llm.max_in_flight <= 2
    # The notes reach the reducer with their sections' time ranges, in order.
    notes = user_text(reduces[0].body)
    ranges = re.findall(r"### (\[\d\d:\d\d\])–(\[\d\d:\d\d\])", notes)
    assert len(ranges) == len(maps)
    assert ranges[0][0] == "[00:00]" and ranges == sorted(ranges)

    progress = [event for event in events if event["type"] == "progress"]
    assert progress[0] == {"type": "progress", "stage": "map", "done": 0, "total": len(maps)}
    assert progress[-1] == {"type": "progress", "stage": "map", "done": len(maps), "total": len(maps)}
    summary = events[-1]["summary"]
    assert (summary["mode"], summary["llm_calls"], summary["status"]) == ("map_reduce", len(maps) + 1, "complete")
    purposes = [record.purpose async for record in UsageRecord.objects.order_by("id")]
    assert sorted(purposes) == ["summary_map"] * len(maps) + ["summary_reduce"]


def test_budget_sections_cover_every_item_once_within_the_budget() -> None:
    passages = [
        Passage(n * 1000, n * 1000 + 900, "字" * 10, size) for n, size in enumerate([30, 50, 20, 90, 10, 40, 200, 5])
    ]
    groups = budget_sections(passages, 100)
    assert [item for group in groups for item in group] == passages
    # about equal groups within 100 tokens; the 200-token passage goes alone
    assert [[item.tokens for item in group] for group in groups] == [[30, 50, 20], [90], [10, 40], [200], [5]]
    assert budget_sections([], 100) == []


# --- The cache --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_repeat_request_is_served_from_the_cache_with_no_llm_call(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))
    first = await collect(summary_stream(part, "zh", None))
    records = await UsageRecord.objects.acount()

    second = await collect(summary_stream(part.pk, "zh", None))

    assert len(llm.text_requests) == 1
    assert await UsageRecord.objects.acount() == records  # cost 0 tokens
    assert second[0]["cached"] is True and second[-1]["cached"] is True
    assert [event["type"] for event in second] == ["start", "token", "done"]
    assert text_of(second) == text_of(first) == second[-1]["summary"]["content"]


@pytest.mark.django_db(transaction=True)
async def test_the_cache_key_is_part_language_prompt_version_and_model(llm: FakeOpenAI, settings: Any) -> None:
    part = await ready_part(cue_lines(20))
    await collect(summary_stream(part, "zh", None))
    await collect(summary_stream(part, "en", None))
    settings.CHAT_MODEL = "another-model"
    await collect(summary_stream(part, "zh", None))
    await collect(summary_stream(part, "zh", None))
    assert [request.body["model"] for request in llm.text_requests] == ["fake-chat", "fake-chat", "another-model"]
    keys = {key async for key in Summary.objects.values_list("language", "prompt_version", "model")}
    assert keys == {("zh", "v2", "fake-chat"), ("en", "v2", "fake-chat"), ("zh", "v2", "another-model")}


@pytest.mark.django_db(transaction=True)
async def test_a_part_ingested_again_gets_a_new_summary(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))
    await collect(summary_stream(part, "zh", None))
    await VideoPart.objects.filter(pk=part.pk).aupdate(ingested_at=timezone.now())
    again = await collect(summary_stream(part, "zh", None))
    assert again[0]["cached"] is False and len(llm.text_requests) == 2
    assert (await collect(summary_stream(part, "zh", None)))[0]["cached"] is True


@pytest.mark.django_db(transaction=True)
def test_two_connections_claiming_at_once_make_one_leader(settings: Any) -> None:
    """The claim itself, raced from two threads with their own database connections."""
    settings.OPENAI_API_KEY = "test-key"
    part = make_part(cue_lines(5))
    key = summary_key(part_id=part.pk, language="zh")
    barrier = threading.Barrier(2)
    roles: list[str] = []

    def claim() -> None:
        try:
            barrier.wait()
            roles.append(summary_claim(key=key, user_id=None)[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(roles) == ["follow", "lead"]
    assert Summary.objects.count() == 1


@pytest.mark.django_db(transaction=True)
async def test_regenerate_makes_a_new_summary_in_the_same_row(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))
    first = await collect(summary_stream(part, "zh", None))
    llm.reply = SUMMARY_REPLY.replace("量子计算", "量子纠缠")
    again = await collect(summary_stream(part, "zh", None, regenerate=True))

    assert len(llm.text_requests) == 2
    assert again[0]["cached"] is False
    assert again[-1]["summary"]["id"] == first[-1]["summary"]["id"]
    assert "量子纠缠" in again[-1]["summary"]["content"]
    assert (await Summary.objects.aget()).content == again[-1]["summary"]["content"]


# --- One generation for concurrent requests --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_concurrent_identical_requests_share_one_generation(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.005
    part = await ready_part(cue_lines(20))
    alice, bob, carol = await asyncio.gather(*(sync_to_async(make_user)(name) for name in ("alice", "bob", "carol")))

    results = await asyncio.gather(*(collect(summary_stream(part, "zh", user)) for user in (alice, bob, carol)))

    assert len(llm.text_requests) == 1
    for events in results:
        assert events[-1]["type"] == "done"
        assert text_of(events) == events[-1]["summary"]["content"] == SUMMARY_REPLY
    assert await UsageRecord.objects.acount() == 2  # the summary and its chapters, once
    assert await Summary.objects.acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_a_request_arriving_mid_stream_gets_the_text_so_far_then_the_rest(llm: FakeOpenAI, settings: Any) -> None:
    settings.SUMMARY_SAVE_INTERVAL_SECONDS = 0.05
    llm.token_delay = 0.01
    part = await ready_part(cue_lines(20))
    first = asyncio.create_task(collect(summary_stream(part, "zh", None)))
    while len((await Summary.objects.filter(part=part).afirst() or Summary()).content) < 20:
        await asyncio.sleep(0.01)

    late = await collect(summary_stream(part, "zh", None))
    early = await first

    assert len(llm.text_requests) == 1
    assert late[0]["cached"] is False
    first_token = next(event for event in late if event["type"] == "token")
    assert len(first_token["text"]) >= 20  # the saved prefix, in one piece
    assert text_of(late) == text_of(early) == SUMMARY_REPLY


@pytest.mark.django_db(transaction=True)
async def test_followers_recover_what_a_full_channel_dropped(llm: FakeOpenAI, settings: Any) -> None:
    """A channel that holds 2 messages drops most tokens (and maybe the end): the saved text fills in."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2}}
    }
    settings.SUMMARY_STALE_SECONDS = 0.9
    settings.SUMMARY_SAVE_INTERVAL_SECONDS = 0.02
    llm.reply = SUMMARY_REPLY * 5
    part = await ready_part(cue_lines(20))
    results = await asyncio.gather(*(collect_slowly(summary_stream(part, "zh", None)) for _ in range(3)))
    assert len(llm.text_requests) == 1
    for events in results:
        assert text_of(events) == events[-1]["summary"]["content"] == SUMMARY_REPLY * 5
    assert any(len(event.get("text", "")) > 10 for event in results[0][1:-1])  # a catch-up from the saved text


async def collect_slowly(stream: Any) -> list[dict]:
    """A reader slower than the generation (a slow websocket client)."""
    events = []
    async for event in stream:
        events.append(event)
        await asyncio.sleep(0.005)
    return events


def make_user(name: str) -> User:
    return User.objects.create(username=name)


# --- Failures ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_disconnect_mid_stream_keeps_the_partial_text_and_is_not_cached(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))
    llm.disconnect_after_tokens = 12
    events = await collect(summary_stream(part, "zh", None))

    partial = "".join(fake_tokens(SUMMARY_REPLY)[:12])
    error = events[-1]
    assert error["type"] == "error"
    assert (error["status"], error["content"]) == ("interrupted", partial)
    assert text_of(events) == partial
    summary = await Summary.objects.aget()
    assert (summary.status, summary.content) == ("interrupted", partial)
    assert summary.error_code == "llm_failed"
    assert list(summary.error_params) == ["reason"]  # the SDK's own words about the dropped connection

    llm.disconnect_after_tokens = None
    retry = await collect(summary_stream(part, "zh", None))
    assert retry[0]["cached"] is False
    assert retry[-1]["summary"]["content"] == SUMMARY_REPLY
    assert len(llm.text_requests) == 2


@pytest.mark.django_db(transaction=True)
async def test_a_failure_before_any_text_is_failed_not_interrupted(llm: FakeOpenAI, settings: Any) -> None:
    settings.LLM_RETRY_ATTEMPTS = 2
    llm.always_fail = 500
    part = await ready_part(cue_lines(20))
    events = await collect(summary_stream(part, "zh", None))
    assert events[-1]["type"] == "error"
    assert (events[-1]["status"], events[-1]["content"]) == ("failed", "")
    assert "500" in events[-1]["message"]
    assert len(llm.text_requests) == 2


@pytest.mark.django_db(transaction=True)
async def test_a_part_without_transcript_fails_cleanly(llm: FakeOpenAI) -> None:
    part = await ready_part([])
    events = await collect(summary_stream(part, "zh", None))
    assert events[-1]["type"] == "error" and events[-1]["status"] == "failed"
    assert "字幕" in events[-1]["message"]
    assert llm.text_requests == []


@pytest.mark.django_db(transaction=True)
async def test_the_generation_outlives_a_reader_that_goes_away(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.005
    part = await ready_part(cue_lines(20))
    stream = summary_stream(part, "zh", None)
    async for event in stream:
        if event["type"] == "token":
            break
    await stream.aclose()
    for _ in range(200):
        summary = await Summary.objects.aget()
        if summary.status != Summary.Status.GENERATING:
            break
        await asyncio.sleep(0.02)
    assert (summary.status, summary.content) == ("complete", SUMMARY_REPLY)
    cached = await collect(summary_stream(part, "zh", None))
    assert cached[0]["cached"] is True and len(llm.text_requests) == 1


# --- A generation that died ----------------------------------------------------------------------------


async def dead_generation(part: VideoPart, *, seconds_ago: float) -> Summary:
    return await Summary.objects.acreate(
        part=part,
        language="zh",
        prompt_version=SUMMARY_PROMPT_VERSION,
        model="fake-chat",
        status=Summary.Status.GENERATING,
        generation_id="dead",
        content="## 摘要\n半截",
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


@pytest.mark.django_db(transaction=True)
async def test_a_stale_generation_is_taken_over_by_the_next_request(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))
    await dead_generation(part, seconds_ago=600)
    events = await collect(summary_stream(part, "zh", None))
    assert text_of(events) == events[-1]["summary"]["content"] == SUMMARY_REPLY
    assert len(llm.text_requests) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_follower_takes_over_when_the_leader_goes_silent(llm: FakeOpenAI, settings: Any) -> None:
    settings.SUMMARY_STALE_SECONDS = 0.4
    part = await ready_part(cue_lines(20))
    await dead_generation(part, seconds_ago=0)  # looks alive, but nobody is generating
    started = time.monotonic()
    events = await collect(summary_stream(part, "zh", None))

    assert time.monotonic() - started >= 0.4
    types = [event["type"] for event in events]
    assert types[:2] == ["start", "token"] and "reset" in types  # the old half, then a fresh run
    assert text_of(events) == events[-1]["summary"]["content"] == SUMMARY_REPLY
    assert len(llm.text_requests) == 1


# --- Danmaku highlights --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_highlights_are_added_from_danmaku_not_from_the_model(llm: FakeOpenAI) -> None:
    counts = [1] * 12
    counts[7] = 40
    top_texts = [[["哈哈", 1]]] * 12
    top_texts[7] = [["前方高能", 30], ["来了", 10]]
    danmaku = {"bucket_seconds": 10, "counts": counts, "top_texts": top_texts, "total": sum(counts)}
    part = await ready_part(cue_lines(20), danmaku=danmaku)
    events = await collect(summary_stream(part, "zh", None))

    summary = events[-1]["summary"]
    assert "[01:10] 42 条弹幕" in user_text(llm.text_requests[0].body)  # the model may mention it
    assert summary["content"].startswith(SUMMARY_REPLY)
    assert summary["content"].endswith(
        "## 高能时刻\n- 🔥 [01:10] 42 条弹幕，约为平时的 14 倍：「前方高能」 「来了」 「哈哈」\n"
    )
    assert [h["start_ms"] for h in summary["highlights"]] == [70_000]
    assert text_of(events) == summary["content"]


# --- Prompts and the non-streaming helper --------------------------------------------------------------


def test_prompt_templates_are_versioned_files_with_both_parts() -> None:
    for name in ("summary", "summary_map", "summary_reduce", "comments"):
        prompt = load_prompt(name, "v1")
        assert (prompt.name, prompt.version) == (name, "v1")
    messages = load_prompt("summary_map", "v1").messages(
        title="标题 ${not_a_variable}",
        section_range="[00:00]–[01:00]",
        language_instruction="用中文。",
        transcript="{}",
    )
    assert [message["role"] for message in messages] == ["system", "user"]
    assert "标题 ${not_a_variable}" in messages[1]["content"] and messages[1]["content"].endswith("{}")
    with pytest.raises(KeyError):
        load_prompt("summary_map", "v1").messages(title="缺少其他值")
    with pytest.raises(FileNotFoundError):
        load_prompt("summary", "v999")
    with pytest.raises(ValueError):
        load_prompt("../settings", "v1")


@pytest.mark.django_db(transaction=True)
async def test_summary_get_or_generate_returns_the_finished_row(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(20))
    summary = await summary_get_or_generate(part, "zh")
    assert (summary.status, summary.content) == ("complete", SUMMARY_REPLY)
    empty = await ready_part([])
    with pytest.raises(AppError) as no_transcript:
        await summary_get_or_generate(empty, "zh")
    assert no_transcript.value.code == "no_transcript"
    with pytest.raises(AppError) as bad_language:
        await summary_get_or_generate(part, "fr")
    assert bad_language.value.code == "bad_language"

"""The progressive summary of a long part: each section is shown, in order, as soon as it and every
earlier one are read; a request arriving mid-generation gets the sections so far."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from chat.summaries import summary_stream
from chat.tests.fixtures_outline import amake_part, is_section_map, lecture_cues, section_reply
from chat.timestamps import parse_timestamp
from tests.fakes.openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY_REPLY = "## 摘要\n讲红烧肉。\n\n## 要点\n- 📌 [00:01] 选料\n"
LLM_REPLY = SUMMARY_REPLY


def section_start(body: dict) -> int:
    """Where a map request's section starts (its time range's first time)."""
    match = re.search(r"本段时间范围：(\[[\d:]+\])", body["messages"][1]["content"])
    return parse_timestamp(match.group(1)) if match else 0


@pytest.fixture
def long_part_settings(settings: Any, llm: FakeOpenAI) -> FakeOpenAI:
    settings.SUMMARY_SINGLE_PASS_TOKENS = 600
    settings.SUMMARY_SECTION_TOKENS = 500
    settings.SUMMARY_MAP_CONCURRENCY = 8
    llm.reply = lambda body: section_reply(body) if is_section_map(body) else SUMMARY_REPLY
    return llm


async def test_the_first_section_shows_before_the_last_map_call_ends(long_part_settings: FakeOpenAI) -> None:
    llm = long_part_settings
    # Later sections are slower: each token of a map reply waits longer the later its section starts.
    llm.token_delay_for = lambda body: 0.002 + section_start(body) / 1000 * 0.00002 if is_section_map(body) else 0.0
    part = await amake_part(lecture_cues(120), duration_seconds=900)
    maps_ended_at_first_section = None
    events = []
    async for event in summary_stream(part, "zh", None):
        if event["type"] == "section" and maps_ended_at_first_section is None:
            maps_ended_at_first_section = llm.completed_streams
        events.append(event)

    maps = [request for request in llm.requests if is_section_map(request.body)]
    assert len(maps) >= 5
    assert maps_ended_at_first_section is not None and maps_ended_at_first_section < len(maps)
    sections = [event for event in events if event["type"] == "section"]
    assert [section["index"] for section in sections] == list(range(len(maps)))
    first_token = next(n for n, event in enumerate(events) if event["type"] == "token")
    assert max(n for n, event in enumerate(events) if event["type"] == "section") < first_token


async def test_sections_go_out_in_order_even_when_a_later_one_finishes_first(long_part_settings: FakeOpenAI) -> None:
    llm = long_part_settings
    # The first section is the slowest: nothing may be shown until it is done.
    llm.token_delay_for = lambda body: 0.02 if is_section_map(body) and section_start(body) == 0 else 0.0
    part = await amake_part(lecture_cues(120), duration_seconds=900)
    events = [event async for event in summary_stream(part, "zh", None)]

    sections = [event for event in events if event["type"] == "section"]
    assert [section["index"] for section in sections] == list(range(len(sections)))
    assert sections[0] == {
        "type": "section",
        "index": 0,
        "start_ms": 0,
        "end_ms": sections[1]["start_ms"],
        "title": "红烧肉的选料",
        "gist": "这一段讲红烧肉的选料。",
        "points": sections[0]["points"],
    }
    assert [point["text"] for point in sections[0]["points"]] == ["开头讲红烧肉的选料", "最后总结红烧肉的选料"]
    assert sections[0]["points"][0]["start_ms"] == 1_250  # a real cue start
    assert all(a["end_ms"] == b["start_ms"] for a, b in itertools.pairwise(sections))
    assert sections[-1]["end_ms"] == 900_000
    done = events[-1]["summary"]
    assert [(c["start_ms"], c["title"]) for c in done["chapters"]] == [(s["start_ms"], s["title"]) for s in sections]


async def test_a_request_arriving_mid_generation_gets_the_sections_so_far(long_part_settings: FakeOpenAI) -> None:
    llm = long_part_settings
    # The last section is much slower, so a second request arrives while it is still being read.
    last_start = lecture_cues(120)[-1].start_ms // 1000 * 1000
    llm.token_delay_for = lambda body: (
        0.03 if is_section_map(body) and section_start(body) > last_start - 150_000 else 0.0
    )
    part = await amake_part(lecture_cues(120), duration_seconds=900)
    leader = summary_stream(part, "zh", None)
    async for event in leader:
        if event["type"] == "section" and event["index"] == 2:
            break
    late = [event async for event in summary_stream(part, "zh", None)]
    rest = [event async for event in leader]

    late_sections = [event for event in late if event["type"] == "section"]
    assert [section["index"] for section in late_sections] == list(range(len(late_sections)))
    assert late[0]["type"] == "start" and late[1]["type"] == "section" and late[1]["index"] == 0
    assert late_sections[-1]["index"] == len(late[-1]["summary"]["chapters"]) - 1
    assert late[-1]["summary"]["chapters"] == rest[-1]["summary"]["chapters"]
    assert next(event["index"] for event in rest if event["type"] == "section") == 3

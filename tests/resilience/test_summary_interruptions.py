"""A summary cut off mid-generation (Ctrl-C on `manage.py summarize`, a cancelled task) keeps the
text it had and is marked interrupted at once, never left "generating" until the stale takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from chat.management.commands.summarize import INTERRUPTED_MARKER
from chat.models import Summary
from chat.summaries import summary_stream
from chat.summaries.generation import generations_running
from tests.commands import summarize_interrupted
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

LLM_REPLY = "这是一段很长的摘要。" * 40


async def test_a_cancelled_generation_saves_its_text_as_interrupted(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.05
    part = await ready_part()
    events = summary_stream(part, "zh", None)
    streamed = ""
    async for event in events:
        if event["type"] == "token":
            streamed += event["text"]
            break
    (generation,) = generations_running()
    generation.cancel()
    with pytest.raises(asyncio.CancelledError):
        await generation
    await events.aclose()
    summary = await Summary.objects.aget()
    assert (summary.status, summary.error_code) == (Summary.Status.INTERRUPTED, "summary_interrupted")
    assert (summary.content[: len(streamed)], len(summary.content) < len(LLM_REPLY)) == (streamed, True)


async def test_a_generation_cancelled_before_any_text_is_interrupted_not_generating(llm: FakeOpenAI) -> None:
    llm.token_delay = 30
    part = await ready_part()
    reader = asyncio.ensure_future(collect(summary_stream(part, "zh", None)))
    while llm.in_flight == 0:  # the generation is waiting for its first token
        await asyncio.sleep(0.01)
    (generation,) = generations_running()
    generation.cancel()
    with pytest.raises(asyncio.CancelledError):
        await generation
    last = (await asyncio.wait_for(reader, 20))[-1]
    summary = await Summary.objects.aget()
    assert (last["type"], last["status"], last["content"]) == ("error", "interrupted", "")
    assert (summary.status, summary.error_code, summary.content) == (
        Summary.Status.INTERRUPTED,
        "summary_interrupted",
        "",
    )


async def collect(events: AsyncIterator[dict]) -> list[dict]:
    return [event async for event in events]


@pytest.mark.slow  # a fresh Django process
def test_ctrl_c_on_summarize_marks_the_summary_interrupted_with_what_it_had(
    llm: FakeOpenAI, settings, tmp_path: Path
) -> None:
    async_to_sync(ready_part)()
    llm.token_delay = 0.1
    returncode, printed, _ = summarize_interrupted(settings, tmp_path, printed_before="这是")
    printed = printed.removesuffix(f"\n{INTERRUPTED_MARKER}\n")
    summary = Summary.objects.get()
    assert (returncode, summary.status, summary.error_code) == (130, "interrupted", "summary_interrupted")
    assert (summary.content[: len(printed)], len(printed) > 0, len(summary.content) < len(LLM_REPLY)) == (
        printed,
        True,
        True,
    )

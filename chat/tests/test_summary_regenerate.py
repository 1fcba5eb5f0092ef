"""A regeneration that fails keeps the last complete summary: nothing paid for is lost."""

from __future__ import annotations

import pytest

from chat.models import Summary
from chat.summaries import summary_stream
from chat.tests.test_summaries import LLM_REPLY, SUMMARY_REPLY, collect, cue_lines, ready_part  # noqa: F401 (LLM_REPLY feeds the llm fixture)
from tests.fakes.openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_failed_regeneration_puts_the_previous_version_back(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(8))
    first = await collect(summary_stream(part, "zh"))
    assert first[-1]["type"] == "done"
    original = first[-1]["summary"]["content"]
    assert "量子计算" in original

    llm.always_fail = 500
    events = await collect(summary_stream(part, "zh", regenerate=True))
    assert events[-1]["type"] == "done"
    assert events[-1]["summary"]["content"] == original
    assert events[-1]["summary"]["error_code"] == "regeneration_failed"
    assert events[-1]["summary"]["error"] == "重新生成失败，保留上一版"
    summary = await Summary.objects.aget(part=part, language="zh")
    assert (summary.status, summary.content, summary.previous) == (Summary.Status.COMPLETE, original, {})

    requests_before = len(llm.requests)
    cached = await collect(summary_stream(part, "zh"))
    assert cached[0]["cached"] is True
    assert len(llm.requests) == requests_before


async def test_a_successful_regeneration_replaces_the_text(llm: FakeOpenAI) -> None:
    part = await ready_part(cue_lines(8))
    await collect(summary_stream(part, "zh"))
    llm.reply = SUMMARY_REPLY.replace("量子计算", "新的内容")
    events = await collect(summary_stream(part, "zh", regenerate=True))
    assert "新的内容" in events[-1]["summary"]["content"]
    summary = await Summary.objects.aget(part=part, language="zh")
    assert summary.previous == {}
    assert (summary.error_code, summary.error_params) == ("", {})

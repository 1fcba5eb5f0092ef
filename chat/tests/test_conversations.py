"""Answers: cited, streamed, saved; offline quotes; history budget; failures keep the partial text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chat.conversations import answer_stream, citations_in, history_within_budget
from chat.models import Conversation, Message
from chat.retrieval import RetrievedChunk
from core.errors import AppError
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI, fake_tokens
from videos.models import Chunk

pytestmark = pytest.mark.django_db(transaction=True)


async def collect(events: Any) -> list[dict]:
    return [event async for event in events]


def text_of(events: list[dict]) -> str:
    return "".join(event["text"] for event in events if event["type"] == "token")


async def make_user(name: str = "alice") -> User:
    return await User.objects.acreate(username=name)


async def chunk_starts(part: Any) -> list[int]:
    return [
        start async for start in Chunk.objects.filter(part=part).order_by("ordinal").values_list("start_ms", flat=True)
    ]


def retrieved(chunk_id: int, start_ms: int) -> RetrievedChunk:
    return RetrievedChunk(chunk_id, 0, start_ms, start_ms + 5000, "text", 3, 1.0, 1, None, False)


def test_citations_map_timestamps_to_retrieved_chunks() -> None:
    chunks = [retrieved(1, 0), retrieved(2, 65_000), retrieved(3, 3_725_000)]
    text = "先焯水 [01:05]，再收汁 [1:02:05]，重复 [01:05]，不存在 [09:09]。"
    citations = citations_in(text, chunks)
    assert [(c["chunk_id"], c["start_ms"], c["label"]) for c in citations] == [
        (2, 65_000, "[01:05]"),
        (3, 3_725_000, "[1:02:05]"),
    ]


def test_history_keeps_the_newest_turns_within_budget() -> None:
    turns = []
    for number in range(6):
        turns.append(Message(role=Message.Role.USER, content=f"问题{number} " + "字" * 50))
        turns.append(Message(role=Message.Role.ASSISTANT, content=f"回答{number} " + "词" * 50))
    history, dropped = history_within_budget(turns, budget_tokens=250)
    assert dropped > 0
    assert history[-1]["content"].startswith("回答5")
    assert history[0]["role"] == "user"
    kept_turns = len(history) // 2
    assert kept_turns + dropped == 6
    everything, none_dropped = history_within_budget(turns, budget_tokens=100_000)
    assert none_dropped == 0 and len(everything) == 12


async def test_offline_answer_quotes_the_best_excerpts() -> None:
    user = await make_user()
    part = await ready_part()
    events = await collect(answer_stream(user=user, part=part, question="红烧肉怎么炒糖色？"))
    assert events[0]["type"] == "start"
    assert events[-1]["type"] == "done" and events[-1]["offline"] is True
    answer = text_of(events)
    assert "离线模式" in answer
    assert "糖色" in answer
    citations = next(event for event in events if event["type"] == "citations")["citations"]
    assert citations
    starts = await chunk_starts(part)
    assert all(citation["start_ms"] in starts for citation in citations)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert (message.status, message.offline, message.content) == (Message.Status.COMPLETE, True, answer)
    assert message.citations == citations
    asked = await Message.objects.filter(conversation_id=events[0]["conversation_id"], role="user").aget()
    assert asked.content == "红烧肉怎么炒糖色？"


async def test_llm_answer_streams_with_corrected_citations(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.005  # tokens apart: one network read bringing the whole reply is one delta
    user = await make_user()
    part = await ready_part()
    starts = await chunk_starts(part)
    real = starts[1]
    llm.reply = f"先焯水 [{real // 60000:02d}:{real // 1000 % 60:02d}]，然后收汁 [59:59]。"
    events = await collect(answer_stream(user=user, part=part, question="红烧肉第一步做什么？"))
    tokens = [event for event in events if event["type"] == "token"]
    assert len(tokens) > 1, "the answer streams in several tokens"
    answer = text_of(events)
    assert "[59:59]" not in answer, "an invented timestamp is removed"
    done = events[-1]
    assert done["type"] == "done" and done["offline"] is False
    assert done["usage"]["completion_tokens"] > 0
    citations = next(event for event in events if event["type"] == "citations")["citations"]
    assert [citation["start_ms"] for citation in citations] == [real]
    message = await Message.objects.aget(pk=done["message_id"])
    assert message.content == answer and message.status == Message.Status.COMPLETE


async def test_history_enters_the_prompt_within_budget(llm: FakeOpenAI, settings: Any) -> None:
    user = await make_user()
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=user, part=part)
    for number in range(5):
        await Message.objects.acreate(conversation=conversation, role="user", content=f"旧问题{number} " + "长" * 200)
        await Message.objects.acreate(conversation=conversation, role="assistant", content=f"旧回答{number}")
    settings.CHAT_HISTORY_TOKENS = 450
    await collect(answer_stream(user=user, part=part, question="新问题", conversation_id=conversation.pk))
    sent = llm.requests[-1].body["messages"]
    contents = [message["content"] for message in sent]
    assert any(content.startswith("旧问题4") for content in contents), "the newest turn is kept"
    assert not any(content.startswith("旧问题0") for content in contents), "the oldest turn is dropped"
    history_tokens = sum(len(content) for content in contents[1:-1])
    assert history_tokens < 2 * 450
    assert "新问题" in contents[-1]


async def test_a_failure_mid_stream_keeps_the_partial_answer(llm: FakeOpenAI) -> None:
    user = await make_user()
    part = await ready_part()
    llm.reply = "这是一个会被打断的很长很长的回答，后面还有很多内容。"
    llm.disconnect_after_tokens = 3
    events = await collect(answer_stream(user=user, part=part, question="会怎样？"))
    assert events[-1]["type"] == "error"
    partial = text_of(events)
    assert partial == "".join(fake_tokens(llm.reply)[:3])
    assert events[-1]["code"] == "llm_failed"
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.status == Message.Status.INTERRUPTED
    assert message.content == partial
    assert message.error_code == "llm_failed"
    assert message.error.startswith("大模型请求失败：")  # rendered in the active language (zh in tests)


async def test_another_users_conversation_is_refused() -> None:
    owner, intruder = await make_user("owner"), await make_user("intruder")
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=owner, part=part)
    with pytest.raises(AppError) as error:
        await collect(answer_stream(user=intruder, part=part, question="偷看", conversation_id=conversation.pk))
    assert error.value.code == "conversation_not_found"
    assert await Message.objects.filter(conversation=conversation).acount() == 0


async def test_one_answer_in_flight_per_conversation() -> None:
    user = await make_user()
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=user, part=part)
    await Message.objects.acreate(conversation=conversation, role="assistant", status=Message.Status.STREAMING)
    with pytest.raises(AppError) as error:
        await collect(answer_stream(user=user, part=part, question="再问", conversation_id=conversation.pk))
    assert error.value.code == "answer_in_progress"


async def test_an_answer_left_streaming_by_a_dead_server_is_closed_as_interrupted() -> None:
    user = await make_user()
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=user, part=part)
    dead = await Message.objects.acreate(conversation=conversation, role="assistant", status=Message.Status.STREAMING)
    await Message.objects.filter(pk=dead.pk).aupdate(updated_at=timezone.now() - timedelta(minutes=6))
    events = await collect(answer_stream(user=user, part=part, question="再问", conversation_id=conversation.pk))
    assert events[-1]["type"] == "done"
    await dead.arefresh_from_db()
    assert (dead.status, dead.error_code, dead.error) == ("interrupted", "server_restarted", "服务器重启，回答中断")


async def test_an_empty_question_is_refused_and_nothing_is_saved() -> None:
    user = await make_user()
    part = await ready_part()
    with pytest.raises(AppError) as error:
        await collect(answer_stream(user=user, part=part, question="   "))
    assert error.value.code == "empty_question"
    assert await Conversation.objects.acount() == 0

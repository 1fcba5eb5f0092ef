"""POST /videos/{bvid}/parts/{page}/chat: JSON or SSE answers, conversations continued."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)
CHAT = f"{API}/videos/BV1xx411c7mD/parts/1/chat"


# What the shared `llm` fixture (tests/fixtures.py) answers.
LLM_REPLY = "先炒糖色 [02:00]，再小火慢炖 [03:40]。"


async def test_json_answer_offline_then_continue_the_conversation() -> None:
    user, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        first = await client.post(CHAT, json={"question": "糖色怎么炒？"})
        conversation_id = first.json()["conversation_id"]
        second = await client.post(CHAT, json={"question": "要炖多久？", "conversation_id": conversation_id})

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "complete" and body["offline"] is True
    assert "糖色" in body["content"] and body["citations"]
    assert set(body["citations"][0]) == {"chunk_id", "start_ms", "end_ms", "label"}
    assert second.json()["conversation_id"] == conversation_id
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.user_id == user.pk
    assert await Message.objects.filter(conversation=conversation).acount() == 4
    saved = await Message.objects.aget(pk=body["message_id"])
    assert saved.content == body["content"]


async def test_sse_answer_read_by_an_sse_client(llm: FakeOpenAI) -> None:
    llm.token_delay = 0.005  # tokens apart: one network read bringing the whole reply is one delta
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response, events = await sse_request(
            client, "POST", CHAT, params={"stream": "true"}, json={"question": "糖色怎么炒？", "language": "zh"}
        )
    assert response.status_code == 200
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-2:] == ["citations", "done"] and names.count("token") > 2, names
    text = "".join(data["text"] for name, data in events if name == "token")
    assert "小火慢炖" in text
    done = events[-1][1]
    assert done["usage"]["completion_tokens"] > 0 and done["offline"] is False
    assert (await Message.objects.aget(pk=done["message_id"])).content == text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"question": ""}, "invalid_request"),
        ({"question": "x" * 2001}, "invalid_request"),
        ({"question": "a\x00b"}, "invalid_request"),
        ({"question": "   "}, "empty_question"),
        ({"question": "ok", "language": "fr"}, "invalid_request"),
        ({"question": "ok", "conversation_id": 0}, "invalid_request"),
        ({"question": "ok", "conversation_id": "seven"}, "invalid_request"),
        ({}, "invalid_request"),
    ],
)
async def test_bad_questions_are_422_and_save_nothing(body: dict, code: str) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response = await client.post(CHAT, json=body)
    assert_error(response, 422, code)
    assert not await Message.objects.aexists()


async def test_unknown_conversation_is_404_in_json_and_sse() -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        as_json = await client.post(CHAT, json={"question": "糖色？", "conversation_id": 424242})
        as_sse, events = await sse_request(
            client, "POST", CHAT, params={"stream": "true"}, json={"question": "糖色？", "conversation_id": 424242}
        )
    assert_error(as_json, 404, "conversation_not_found")
    assert_error(as_sse, 404, "conversation_not_found")
    assert events == []


async def test_a_second_question_while_answering_is_409() -> None:
    user, token = await auser_with_token()
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=user, part=part, title="t")
    await Message.objects.acreate(conversation=conversation, role="assistant", status="streaming")
    async with api_client(token) as client:
        response = await client.post(CHAT, json={"question": "还有呢？", "conversation_id": conversation.pk})
    assert_error(response, 409, "answer_in_progress")


async def test_a_part_not_ready_is_409() -> None:
    _, token = await auser_with_token()
    part = await ready_part()
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage="chunks", progress_percent=40)
    async with api_client(token) as client:
        response = await client.post(CHAT, json={"question": "糖色？"}, params={"stream": "true"})
    assert assert_error(response, 409, "part_not_ready")["details"]["stage"] == "chunks"


async def test_llm_failure_mid_answer_is_502_with_the_message_id(llm: FakeOpenAI) -> None:
    _, token = await auser_with_token()
    await ready_part()
    llm.disconnect_after_tokens = 2
    async with api_client(token) as client:
        response = await client.post(CHAT, json={"question": "糖色？"})
    body = assert_error(response, 502, "llm_failed")
    saved = await Message.objects.aget(pk=body["details"]["message_id"])
    assert saved.status == "interrupted" and saved.content

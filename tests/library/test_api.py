"""The library API: search, cross-video chat over the library or a collection (JSON and SSE),
conversations, and ownership: nobody reads another user's hits, conversations or answers."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message, UsageRecord, UserQuota
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.fakes.openai import FakeOpenAI
from tests.library.helpers import PORK, WINGS, acollection_of, aown, cite_two_videos, two_videos

pytestmark = pytest.mark.django_db(transaction=True)

LLM_REPLY = cite_two_videos


async def test_an_answer_across_my_library_cites_two_videos_at_their_moments(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    async with api_client(token) as client:
        response = await client.post(f"{API}/library/chat", json={"question": "两道菜的糖色怎么炒？"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offline"] is False and body["status"] == "complete"
    assert {citation["bvid"] for citation in body["citations"]} == {PORK, WINGS}
    for citation in body["citations"]:
        assert citation["url"] == f"/videos/{citation['bvid']}/1/?t={citation['start_ms'] // 1000}"
        assert citation["label"] in body["content"]
    conversation = await Conversation.objects.aget(pk=body["conversation_id"])
    assert (conversation.scope, conversation.part_id, conversation.collection_id) == ("library", None, None)


async def test_the_prompt_names_each_video_and_labels_its_lines(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    async with api_client(token) as client:
        await client.post(f"{API}/library/chat", json={"question": "两道菜的糖色怎么炒？"})

    prompt = llm.text_requests[-1].body["messages"][-1]["content"]
    assert f"V{pork.pk}：《红烧肉的做法》" in prompt
    assert f"V{wings.pk}：《可乐鸡翅》" in prompt
    assert f"[V{wings.pk} 01:00] 锅里少许油，放冰糖小火炒糖色。" in prompt


async def test_a_collection_answer_streams_as_sse_and_reads_only_the_collection(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    collection = await acollection_of(alice, wings)
    async with api_client(token) as client:
        response, events = await sse_request(
            client,
            "POST",
            f"{API}/collections/{collection.pk}/chat",
            params={"stream": "true"},
            json={"question": "糖色怎么炒？"},
        )

    assert response.status_code == 200
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-2:] == ["citations", "done"], names
    assert events[0][1]["scope"] == "collection" and events[0][1]["collection_id"] == collection.pk
    citations = events[-2][1]["citations"]
    assert {citation["bvid"] for citation in citations} == {WINGS}


async def test_a_conversation_keeps_its_memory_across_questions(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    async with api_client(token) as client:
        first = (await client.post(f"{API}/library/chat", json={"question": "糖色怎么炒？"})).json()
        second = await client.post(
            f"{API}/library/chat", json={"question": "那要炖多久？", "conversation_id": first["conversation_id"]}
        )

    assert second.json()["conversation_id"] == first["conversation_id"]
    messages = llm.text_requests[-1].body["messages"]
    assert [message["role"] for message in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "糖色怎么炒？" and messages[2]["content"] == first["content"]


async def test_offline_answers_quote_the_videos_with_their_labels() -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    async with api_client(token) as client:
        response = await client.post(f"{API}/library/chat", json={"question": "可乐鸡翅怎么做"})

    body = response.json()
    assert body["offline"] is True
    assert body["citations"] and all(citation["label"] in body["content"] for citation in body["citations"])
    assert "《可乐鸡翅》" in body["content"]


async def test_an_empty_library_is_library_empty_and_saves_nothing() -> None:
    _, token = await auser_with_token("carol")
    await two_videos()
    async with api_client(token) as client:
        response = await client.post(f"{API}/library/chat", json={"question": "糖色？"})
    assert_error(response, 409, "library_empty")
    assert not await Message.objects.aexists()


async def test_over_quota_is_429_before_anything_is_saved(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    await UserQuota.objects.acreate(user=alice, daily_token_budget=100)
    await UsageRecord.objects.acreate(user=alice, purpose="chat", model="fake-chat", prompt_tokens=100)
    async with api_client(token) as client:
        response = await client.post(f"{API}/library/chat", json={"question": "糖色？"})
    assert_error(response, 429, "quota_exceeded")
    assert not await Message.objects.aexists()
    assert llm.text_requests == []


async def test_a_search_by_api_lists_my_moments_only() -> None:
    alice, token = await auser_with_token("alice")
    bob, bob_token = await auser_with_token("bob")
    pork, wings = await two_videos()
    await aown(alice, pork)
    await aown(bob, wings)
    async with api_client(token) as client:
        mine = await client.get(f"{API}/library/search", params={"q": "怎么炒糖色", "limit": 5})
    async with api_client(bob_token) as client:
        bobs = await client.get(f"{API}/library/search", params={"q": "怎么炒糖色", "limit": 5})

    assert {hit["bvid"] for hit in mine.json()} == {PORK}
    assert {hit["bvid"] for hit in bobs.json()} == {WINGS}
    hit = mine.json()[0]
    assert hit["url"] == f"/videos/{PORK}/1/?t={hit['start_ms'] // 1000}"


async def test_nobody_reads_or_continues_another_users_cross_video_conversation() -> None:
    alice, token = await auser_with_token("alice")
    bob, bob_token = await auser_with_token("bob")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    await aown(bob, pork, wings)
    async with api_client(token) as client:
        answer = (await client.post(f"{API}/library/chat", json={"question": "糖色？"})).json()
        own = await client.get(f"{API}/library/conversations/{answer['conversation_id']}")
    async with api_client(bob_token) as client:
        read = await client.get(f"{API}/library/conversations/{answer['conversation_id']}")
        listed = await client.get(f"{API}/library/conversations")
        continued = await client.post(
            f"{API}/library/chat", json={"question": "然后呢？", "conversation_id": answer["conversation_id"]}
        )

    assert own.status_code == 200 and len(own.json()["messages"]) == 2
    assert_error(read, 404, "conversation_not_found")
    assert listed.json() == []
    assert_error(continued, 404, "conversation_not_found")
    assert await Message.objects.acount() == 2


async def test_nobody_chats_with_or_searches_another_users_collection() -> None:
    alice, _ = await auser_with_token("alice")
    _, bob_token = await auser_with_token("bob")
    pork, wings = await two_videos()
    collection = await acollection_of(alice, pork, wings)
    async with api_client(bob_token) as client:
        chat = await client.post(f"{API}/collections/{collection.pk}/chat", json={"question": "糖色？"})
        search = await client.get(f"{API}/library/search", params={"q": "糖色", "collection_id": collection.pk})
        parts = await client.get(f"{API}/library/parts", params={"collection_id": collection.pk})

    assert_error(chat, 404, "collection_not_found")
    assert_error(search, 404, "collection_not_found")
    assert_error(parts, 404, "collection_not_found")


async def test_a_library_conversation_cannot_continue_on_a_collection() -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    collection = await acollection_of(alice, pork, wings)
    async with api_client(token) as client:
        answer = (await client.post(f"{API}/library/chat", json={"question": "糖色？"})).json()
        moved = await client.post(
            f"{API}/collections/{collection.pk}/chat",
            json={"question": "然后呢？", "conversation_id": answer["conversation_id"]},
        )
    assert_error(moved, 404, "conversation_not_found")


async def test_my_one_video_conversations_stay_out_of_the_library_list() -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    await sync_to_async(Conversation.objects.create)(user=alice, part=pork, title="one video")
    async with api_client(token) as client:
        listed = await client.get(f"{API}/library/conversations")
        history = await client.get(f"{API}/conversations")
    assert listed.json() == []
    assert [item["title"] for item in history.json()["items"]] == ["one video"]

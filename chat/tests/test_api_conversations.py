"""GET /conversations (mine, paginated) and GET /conversations/{id}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message
from tests.api_client import API, api_client, assert_error, auser_with_token
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)


async def conversations(user, part, titles: list[str]) -> list[Conversation]:
    made = []
    for age, title in enumerate(titles):
        conversation = await Conversation.objects.acreate(user=user, part=part, title=title)
        await Conversation.objects.filter(pk=conversation.pk).aupdate(updated_at=timezone.now() - timedelta(hours=age))
        made.append(conversation)
    return made


async def test_my_conversations_newest_first_in_pages() -> None:
    alice, token = await auser_with_token("alice")
    bob, _ = await auser_with_token("bob")
    part = await ready_part()
    _, middle, _ = await conversations(alice, part, ["newest", "middle", "oldest"])
    await conversations(bob, part, ["bob's"])
    await Message.objects.acreate(conversation=middle, role="user", content="q")
    await Message.objects.acreate(conversation=middle, role="assistant", content="a")

    async with api_client(token) as client:
        first = await client.get(f"{API}/conversations", params={"page_size": 2})
        second = await client.get(f"{API}/conversations", params={"page_size": 2, "page": 2})
        beyond = await client.get(f"{API}/conversations", params={"page": 50})

    assert first.json()["count"] == 3
    assert [item["title"] for item in first.json()["items"]] == ["newest", "middle"]
    assert [item["title"] for item in second.json()["items"]] == ["oldest"]
    assert beyond.json() == {"items": [], "count": 3}
    item = first.json()["items"][1]
    assert (item["id"], item["bvid"], item["page"], item["message_count"]) == (middle.pk, "BV1xx411c7mD", 1, 2)


async def test_one_conversation_with_its_messages_in_order() -> None:
    alice, token = await auser_with_token()
    part = await ready_part()
    (conversation,) = await conversations(alice, part, ["糖色"])
    await Message.objects.acreate(conversation=conversation, role="user", content="糖色怎么炒？")
    citation = {"chunk_id": 1, "start_ms": 120000, "end_ms": 140000, "label": "02:00"}
    await Message.objects.acreate(
        conversation=conversation, role="assistant", content="小火 [02:00]", citations=[citation], offline=True
    )
    async with api_client(token) as client:
        response = await client.get(f"{API}/conversations/{conversation.pk}")

    body = response.json()
    assert (body["id"], body["title"], body["message_count"]) == (conversation.pk, "糖色", 2)
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "糖色怎么炒？"),
        ("assistant", "小火 [02:00]"),
    ]
    assert body["messages"][1]["citations"] == [citation] and body["messages"][1]["offline"] is True
    assert body["messages"][1]["error"] == ""


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/conversations/987654", 404, "conversation_not_found"),
        ("/conversations/0", 422, "invalid_request"),
        ("/conversations/abc", 422, "invalid_request"),
        ("/conversations/99999999999999999999999", 422, "invalid_request"),
        ("/conversations?page=0", 422, "invalid_request"),
        ("/conversations?page=100001", 422, "invalid_request"),
        ("/conversations?page_size=101", 422, "invalid_request"),
    ],
)
async def test_bad_conversation_requests(path: str, status: int, code: str) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.get(API + path)
    assert_error(response, status, code)

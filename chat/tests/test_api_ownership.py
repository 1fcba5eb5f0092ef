"""Someone else's conversation or token is a 404 on every endpoint, exactly like a missing one."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat.models import ApiToken, Conversation, Message
from chat.services.api_tokens import api_token_authenticate, api_token_create
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)
MISSING = 10**12

# (method, path, JSON body, stream, code): "{conversation}" and "{token}" are filled in.
ASK = {"question": "hi", "conversation_id": "{conversation}"}
ENDPOINTS = [
    ("GET", "/conversations/{conversation}", None, False, "conversation_not_found"),
    ("POST", "/videos/BV1xx411c7mD/parts/1/chat", ASK, False, "conversation_not_found"),
    ("POST", "/videos/BV1xx411c7mD/parts/1/chat", ASK, True, "conversation_not_found"),
    ("DELETE", "/tokens/{token}", None, False, "token_not_found"),
]


async def bobs_conversation_and_token() -> tuple[Conversation, ApiToken, str]:
    bob, _ = await auser_with_token("bob")
    part = await ready_part()
    conversation = await Conversation.objects.acreate(user=bob, part=part, title="bob's")
    await Message.objects.acreate(conversation=conversation, role="user", content="bob's question")
    token, raw = await sync_to_async(api_token_create)(user=bob, name="bob's")
    return conversation, token, raw


def filled(template: str | dict | None, ids: dict[str, int]) -> str | dict | None:
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, dict):
        return {key: ids["conversation"] if value == "{conversation}" else value for key, value in template.items()}
    return None


@pytest.mark.parametrize(("method", "path", "body", "stream", "code"), ENDPOINTS)
async def test_someone_elses_is_the_same_404_as_a_missing_one(method, path, body, stream, code) -> None:
    _, alice_token = await auser_with_token("alice")
    conversation, token, raw = await bobs_conversation_and_token()

    bodies = []
    async with api_client(alice_token) as client:
        for ids in ({"conversation": conversation.pk, "token": token.pk}, {"conversation": MISSING, "token": MISSING}):
            params = {"stream": "true"} if stream else None
            response, events = await sse_request(
                client, method, API + filled(path, ids), json=filled(body, ids), params=params
            )
            assert events == []
            bodies.append(assert_error(response, 404, code))

    assert bodies[0] == bodies[1]
    assert await Message.objects.filter(conversation=conversation).acount() == 1
    assert await Conversation.objects.acount() == 1
    assert (await ApiToken.objects.aget(pk=token.pk)).revoked_at is None
    assert (await sync_to_async(api_token_authenticate)(raw)).username == "bob"


async def test_the_conversation_list_never_shows_someone_elses() -> None:
    _, alice_token = await auser_with_token("alice")
    await bobs_conversation_and_token()
    async with api_client(alice_token) as client:
        response = await client.get(f"{API}/conversations")
    assert response.json() == {"items": [], "count": 0}

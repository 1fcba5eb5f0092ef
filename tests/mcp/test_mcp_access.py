"""Who may do what over /mcp, through a real daphne and the SDK's client: tokens, ownership, quotas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User

from chat.models import Conversation
from chat.services.api_tokens import api_token_revoke
from tests.api_client import daphne_server, user_with_token
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from tests.mcp.client import data_of, error_of, mcp_session
from videos.models import Collection, CollectionItem, VideoPart
from videos.services import video_request_record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BVID = "BV1xx411c7mD"
# What the shared `llm` fixture answers, summaries and questions alike.
LLM_REPLY = "先把冰糖小火炒到枣红色 [02:20]，再下肉翻炒 [02:40]。"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def owned_part(user: User) -> VideoPart:
    part = async_to_sync(ready_part)(bvid=BVID)
    video_request_record(user=user, part=part)
    return part


def llm_env(settings: Any) -> dict[str, str]:
    return {"OPENAI_BASE_URL": settings.OPENAI_BASE_URL, "OPENAI_API_KEY": "test-key", "CHAT_MODEL": "fake-chat"}


def test_no_token_gets_the_protocols_auth_error() -> None:
    with daphne_server() as url:
        response = httpx.post(f"{url}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=30)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


def test_a_revoked_token_gets_the_protocols_auth_error() -> None:
    user, token = user_with_token()
    api_token_revoke(user=user, token_id=user.api_tokens.get().pk)
    with daphne_server() as url:
        response = httpx.post(
            f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}, timeout=30
        )

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_another_users_token_cannot_see_my_videos() -> None:
    alice, _ = user_with_token("alice")
    _, bob_token = user_with_token("bob")
    owned_part(alice)

    async def as_bob(url: str) -> tuple[dict, dict, dict]:
        async with mcp_session(url, bob_token) as session:
            library = data_of(await session.call_tool("list_library", {}))
            summary = error_of(await session.call_tool("get_summary", {"bvid": BVID}))
            transcript = error_of(await session.call_tool("get_transcript", {"bvid": BVID}))
        return library, summary, transcript

    with daphne_server() as url:
        library, summary, transcript = async_to_sync(as_bob)(url)

    assert (library["total"], library["items"]) == (0, [])
    assert summary["code"] == transcript["code"] == "part_not_found"


def test_my_collection_is_searchable_and_looks_missing_to_anyone_else() -> None:
    alice, alice_token = user_with_token("alice")
    _, bob_token = user_with_token("bob")
    part = async_to_sync(ready_part)(bvid=BVID)  # only in the collection: no VideoRequest
    collection = Collection.objects.create(owner=alice, kind=Collection.Kind.FAVOURITES, source_id="1", title="菜")
    CollectionItem.objects.create(
        collection=collection, position=0, bvid=BVID, page=1, part=part, state=CollectionItem.State.READY
    )
    arguments = {"query": "炒糖色", "collection_id": collection.pk, "limit": 1}

    async def search(url: str) -> tuple[dict, dict]:
        async with mcp_session(url, alice_token) as session:
            mine = data_of(await session.call_tool("search_library", arguments))
        async with mcp_session(url, bob_token) as session:
            theirs = error_of(await session.call_tool("search_library", arguments))
        return mine, theirs

    with daphne_server() as url:
        mine, theirs = async_to_sync(search)(url)

    assert [(hit["bvid"], hit["page"]) for hit in mine["hits"]] == [(BVID, 1)]
    assert "糖色" in mine["hits"][0]["text"]
    assert theirs["code"] == "collection_not_found"


def test_another_users_token_cannot_continue_my_conversation(llm: FakeOpenAI, settings: Any) -> None:
    alice, alice_token = user_with_token("alice")
    bob, bob_token = user_with_token("bob")
    part = owned_part(alice)
    video_request_record(user=bob, part=part)

    async def ask(url: str) -> tuple[dict, dict]:
        async with mcp_session(url, alice_token) as session:
            mine = data_of(await session.call_tool("ask_video", {"question": "糖色怎么炒？", "bvid": BVID}))
        async with mcp_session(url, bob_token) as session:
            arguments = {"question": "然后呢？", "bvid": BVID, "conversation_id": mine["conversation_id"]}
            theirs = error_of(await session.call_tool("ask_video", arguments))
        return mine, theirs

    with daphne_server(**llm_env(settings)) as url:
        mine, theirs = async_to_sync(ask)(url)

    assert Conversation.objects.get(pk=mine["conversation_id"]).user == alice
    assert theirs["code"] == "conversation_not_found"
    assert Conversation.objects.filter(user=bob).count() == 0


def test_quotas_apply(llm: FakeOpenAI, settings: Any) -> None:
    alice, token = user_with_token("alice")
    owned_part(alice)

    async def ask_twice(url: str) -> tuple[dict, dict]:
        async with mcp_session(url, token, language="en") as session:
            first = data_of(await session.call_tool("ask_video", {"question": "糖色怎么炒？", "bvid": BVID}))
            second = error_of(await session.call_tool("ask_video", {"question": "要炖多久？", "bvid": BVID}))
        return first, second

    with daphne_server(**llm_env(settings), QUOTA_REQUESTS_PER_MINUTE="1") as url:
        first, second = async_to_sync(ask_twice)(url)

    assert first["answer"] == LLM_REPLY
    assert second["code"] == "quota_exceeded"
    assert second["details"]["limit"] == "requests_per_minute"
    assert 0 < second["details"]["retry_after"] <= 60
    assert len(llm.text_requests) == 1


def test_bad_input_is_an_error_result_and_the_session_goes_on() -> None:
    alice, token = user_with_token("alice")
    owned_part(alice)

    async def calls(url: str) -> tuple[dict, dict, dict]:
        async with mcp_session(url, token, language="en") as session:
            bad_bvid = error_of(await session.call_tool("get_transcript", {"bvid": "not-a-bvid"}))
            bad_range = error_of(
                await session.call_tool("get_transcript", {"bvid": BVID, "start_seconds": 30, "end_seconds": 10})
            )
            page = data_of(await session.call_tool("get_transcript", {"bvid": BVID, "limit": 2, "offset": 1}))
        return bad_bvid, bad_range, page

    with daphne_server() as url:
        bad_bvid, bad_range, page = async_to_sync(calls)(url)

    assert bad_bvid["code"] == "invalid_request"
    assert "bvid" in bad_bvid["details"]["errors"][0]
    assert bad_range == {
        "code": "bad_time_range",
        "message": "Bad time range: the start (30.0s) must come before the end (10.0s)",
        "details": {},
    }
    assert [cue["text"] for cue in page["cues"]] == ["今天我们做一道经典的红烧肉。", "首先选五花肉，肥瘦相间的最好。"]
    assert [cue["url"].split("/", 3)[3] for cue in page["cues"]] == [
        f"videos/{BVID}/1/?t=20",
        f"videos/{BVID}/1/?t=40",
    ]
    assert (page["offset"], page["next_offset"], page["total_cues"]) == (1, 3, 16)

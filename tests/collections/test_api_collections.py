"""The collections API: create (quota first), progress, items, retry; nobody sees another's collection."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from chat.models import UsageRecord, UserQuota
from core.errors import AppError
from tests.api_client import API, api_client, assert_error, auser_with_token
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import MIXED_FAVOURITES_LINK, PRIVATE_FAVOURITES_LINK, SEASON_LINK, SEASON_VIDEOS
from videos.collection_ingest import collection_ingest
from videos.errors import GEO_RESTRICTED, ITEM_UNAVAILABLE, VIDEO_PRIVATE
from videos.models import Collection

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_create_lists_the_items_and_queues_one_job(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections", json={"link": SEASON_LINK})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["kind"], body["title"], body["total"], body["finished"], body["done"]) == (
        "season",
        "三期合集",
        3,
        0,
        False,
    )
    assert body["counts"] == {"queued": 3, "running": 0, "ready": 0, "failed": 0, "skipped": 0}
    assert [row.task_path async for row in DBTaskResult.objects.all()] == ["videos.tasks.ingest_collection_task"]


async def test_progress_and_items_after_the_ingestion(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        created = (await client.post(f"{API}/collections", json={"link": SEASON_LINK})).json()
        await collection_ingest(created["id"])
        progress = (await client.get(f"{API}/collections/{created['id']}")).json()
        items = (await client.get(f"{API}/collections/{created['id']}/items")).json()
    assert (progress["percent"], progress["finished"], progress["done"]) == (100, 3, True)
    assert [(item["bvid"], item["state"], item["percent"]) for item in items] == [
        (bvid, "ready", 100) for bvid, _ in SEASON_VIDEOS
    ]


async def test_failed_items_carry_their_reason_in_the_requests_language(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token, headers={"Accept-Language": "en"}) as client:
        created = (await client.post(f"{API}/collections", json={"link": MIXED_FAVOURITES_LINK})).json()
        await collection_ingest(created["id"])
        items = (await client.get(f"{API}/collections/{created['id']}/items")).json()
    assert [item["error"] for item in items if item["state"] == "failed"] == [
        AppError(kind).message("en") for kind in (ITEM_UNAVAILABLE, VIDEO_PRIVATE, GEO_RESTRICTED)
    ]


async def test_someone_elses_collection_is_not_found(bilibili: FakeBilibili) -> None:
    _, alice_token = await auser_with_token("alice")
    _, bob_token = await auser_with_token("bob")
    async with api_client(alice_token) as alice:
        created = (await alice.post(f"{API}/collections", json={"link": SEASON_LINK})).json()
    async with api_client(bob_token) as bob:
        detail = await bob.get(f"{API}/collections/{created['id']}")
        items = await bob.get(f"{API}/collections/{created['id']}/items")
        retry = await bob.post(f"{API}/collections/{created['id']}/retry")
        listed = await bob.get(f"{API}/collections")
        missing = await bob.get(f"{API}/collections/999999")
    for response in (detail, items, retry, missing):
        assert_error(response, 404, "collection_not_found")
    assert listed.json() == []


async def test_over_quota_is_told_before_anything_is_fetched(bilibili: FakeBilibili) -> None:
    user, token = await auser_with_token()
    await UserQuota.objects.acreate(user=user, daily_token_budget=100)
    await UsageRecord.objects.acreate(user=user, purpose="chat", model="m", prompt_tokens=100)
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections", json={"link": SEASON_LINK})
    assert assert_error(response, 429, "quota_exceeded")["details"]["limit"] == "daily_tokens"
    assert bilibili.calls("/x/polymer/web-space/seasons_archives_list") == []
    assert not await Collection.objects.aexists()


async def test_a_link_that_is_no_collection_is_422(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections", json={"link": "https://example.com/not-bilibili"})
    assert_error(response, 422, "invalid_collection_link")
    assert not await Collection.objects.aexists()


async def test_a_private_folder_without_login_is_422(bilibili: FakeBilibili, settings) -> None:
    settings.BILIBILI_SESSDATA = ""
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections", json={"link": PRIVATE_FAVOURITES_LINK})
    assert_error(response, 422, "favourites_private")


async def test_a_private_folder_with_the_login_is_listed(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections", json={"link": PRIVATE_FAVOURITES_LINK})
    assert (response.status_code, response.json()["title"], response.json()["total"]) == (202, "私密收藏", 1)


async def test_retry_queues_the_failed_items_again(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        created = (await client.post(f"{API}/collections", json={"link": MIXED_FAVOURITES_LINK})).json()
        await collection_ingest(created["id"])
        retry = (await client.post(f"{API}/collections/{created['id']}/retry")).json()
        progress = (await client.get(f"{API}/collections/{created['id']}")).json()
    assert retry == {"retried": 3}
    assert progress["counts"] == {"queued": 3, "running": 0, "ready": 1, "failed": 0, "skipped": 0}

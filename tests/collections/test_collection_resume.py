"""A collection's ingestion picks up where it stopped, without redoing finished items."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from tests.collections.helpers import item_rows, make_user
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import FIVE_PART, FIVE_PART_LINK, SEASON_LINK, SEASON_VIDEOS
from videos import collections
from videos.collection_ingest import collection_ingest
from videos.collections import collection_submit
from videos.models import Collection, CollectionItem, VideoPart
from videos.submission import collections_of_worker_requeue, requeue_stale_collections

pytestmark = [pytest.mark.django_db(transaction=True)]


def player_calls(bilibili: FakeBilibili, bvid: str) -> list[str]:
    return [call.query["cid"] for call in bilibili.calls("/x/player/wbi/v2") if call.query.get("bvid") == bvid]


async def test_a_stopped_run_finishes_the_rest_without_redoing_finished_items(bilibili: FakeBilibili, settings) -> None:
    settings.COLLECTION_INGEST_CONCURRENCY = 1
    collection = await collection_submit(owner=await make_user(), text=FIVE_PART_LINK)
    second_part_started = asyncio.Event()

    def watch(what: str, payload: dict) -> None:
        if what == "item" and payload["page"] == 2 and payload["stage"] == "transcript":
            second_part_started.set()

    run = asyncio.create_task(collection_ingest(collection.pk, on_progress=watch))
    await second_part_started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    states = [state for _, _, state, _ in await item_rows(collection)]
    assert states == ["ready", "running", "queued", "queued", "queued"]

    assert await collection_ingest(collection.pk)
    assert await item_rows(collection) == [(FIVE_PART[0], page, "ready", "") for page in range(1, 6)]
    first_cid = str(FIVE_PART[1] * 10 + 1)
    assert player_calls(bilibili, FIVE_PART[0]).count(first_cid) == 1


async def test_a_dead_workers_claims_are_taken_over(bilibili: FakeBilibili, settings) -> None:
    settings.COLLECTION_STALE_SECONDS = 1
    collection = await collection_submit(owner=await make_user(), text=SEASON_LINK)
    dead = "gone-host:4242"
    long_ago = timezone.now() - timezone.timedelta(seconds=30)
    await Collection.objects.filter(pk=collection.pk).aupdate(claimed_by=dead, heartbeat_at=long_ago)
    assert await collection_ingest(collection.pk) is True
    assert await item_rows(collection) == [(bvid, 1, "ready", "") for bvid, _ in SEASON_VIDEOS]


async def test_a_live_workers_collection_is_not_taken(bilibili: FakeBilibili) -> None:
    collection = await collection_submit(owner=await make_user(), text=SEASON_LINK)
    await Collection.objects.filter(pk=collection.pk).aupdate(claimed_by="other:1", heartbeat_at=timezone.now())
    assert await collection_ingest(collection.pk) is False
    assert [state for _, _, state, _ in await item_rows(collection)] == ["queued"] * 3


async def test_a_part_a_dead_worker_held_runs_again_at_once(bilibili: FakeBilibili, settings) -> None:
    settings.COLLECTION_STALE_SECONDS = 1
    collection = await collection_submit(owner=await make_user(), text=SEASON_LINK)
    await collection_ingest(collection.pk)
    item = await CollectionItem.objects.filter(collection=collection).order_by("position").afirst()
    dead, long_ago = "gone-host:4242", timezone.now() - timezone.timedelta(seconds=30)
    await VideoPart.objects.filter(pk=item.part_id).aupdate(
        stage="transcript", claimed_by=dead, heartbeat_at=timezone.now()
    )
    await CollectionItem.objects.filter(pk=item.pk).aupdate(state="running")
    await Collection.objects.filter(pk=collection.pk).aupdate(claimed_by=dead, heartbeat_at=long_ago)
    assert await collection_ingest(collection.pk)
    assert [state for _, _, state, _ in await item_rows(collection)] == ["ready"] * 3


async def test_the_sweep_queues_only_collections_with_no_live_worker(bilibili: FakeBilibili, settings) -> None:
    settings.COLLECTION_STALE_SECONDS = 1
    user = await make_user()
    stale = await collection_submit(owner=user, text=SEASON_LINK)
    live = await collection_submit(owner=user, text=FIVE_PART_LINK)
    long_ago = timezone.now() - timezone.timedelta(seconds=30)
    await Collection.objects.filter(pk=stale.pk).aupdate(claimed_by="gone:1", heartbeat_at=long_ago)
    await Collection.objects.filter(pk=live.pk).aupdate(claimed_by="alive:1", heartbeat_at=timezone.now())
    assert await sync_to_async(requeue_stale_collections)() == [stale.pk]
    assert await sync_to_async(collections.stale_collection_ids)() == []


async def test_a_worker_known_dead_hands_its_collections_back_at_once(bilibili: FakeBilibili) -> None:
    collection = await collection_submit(owner=await make_user(), text=SEASON_LINK)
    await collection_ingest(collection.pk)
    item = await CollectionItem.objects.filter(collection=collection).order_by("position").afirst()
    dead = "gone-host:4242"
    await VideoPart.objects.filter(pk=item.part_id).aupdate(stage="transcript", claimed_by=dead)
    await CollectionItem.objects.filter(pk=item.pk).aupdate(state="running")
    await Collection.objects.filter(pk=collection.pk).aupdate(claimed_by=dead, heartbeat_at=timezone.now())
    assert await sync_to_async(collections_of_worker_requeue)(worker=dead) == [collection.pk]
    assert await VideoPart.objects.filter(claimed_by=dead).acount() == 0
    assert await collection_ingest(collection.pk)
    assert [state for _, _, state, _ in await item_rows(collection)] == ["ready"] * 3

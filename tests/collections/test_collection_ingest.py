"""Collections ingest completely from one link against the fake Bilibili, failures listed with reasons."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from tests.collections.helpers import item_rows, make_user, submit_and_ingest
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import (
    DELETED,
    FAVOURITES_LINK,
    FIVE_PART,
    FIVE_PART_LINK,
    MIXED_FAVOURITES_LINK,
    PRIVATE_BVID,
    REGION_LOCKED,
    SEASON_LINK,
    SEASON_VIDEOS,
    SERIES_LINK,
    SERIES_VIDEOS,
    TWO_PART,
    WITH_SUBTITLES_BVID,
)
from videos.collection_ingest import collection_group_name, collection_ingest
from videos.collections import collection_submit
from videos.models import Collection, VideoPart

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_a_three_video_season_ingests_completely(bilibili: FakeBilibili) -> None:
    collection = await submit_and_ingest(await make_user(), SEASON_LINK)
    assert (collection.kind, collection.title, collection.uploader_mid) == ("season", "三期合集", 7)
    assert await item_rows(collection) == [(bvid, 1, "ready", "") for bvid, _ in SEASON_VIDEOS]


async def test_a_five_part_video_ingests_every_part(bilibili: FakeBilibili) -> None:
    collection = await submit_and_ingest(await make_user(), FIVE_PART_LINK)
    assert collection.kind == Collection.Kind.PARTS
    assert await item_rows(collection) == [(FIVE_PART[0], page, "ready", "") for page in range(1, 6)]
    ready = VideoPart.objects.filter(video__bvid=FIVE_PART[0], stage=VideoPart.Stage.READY)
    assert await ready.acount() == 5


async def test_a_favourites_folder_ingests_every_part_of_every_video(bilibili: FakeBilibili) -> None:
    collection = await submit_and_ingest(await make_user(), FAVOURITES_LINK)
    assert (collection.kind, collection.title) == ("favourites", "我的收藏")
    assert await item_rows(collection) == [
        (SEASON_VIDEOS[0][0], 1, "ready", ""),
        (TWO_PART[0], 1, "ready", ""),
        (TWO_PART[0], 2, "ready", ""),
        (WITH_SUBTITLES_BVID, 1, "ready", ""),
    ]


async def test_a_series_ingests_completely(bilibili: FakeBilibili) -> None:
    collection = await submit_and_ingest(await make_user(), SERIES_LINK)
    assert collection.kind == Collection.Kind.SERIES
    assert await item_rows(collection) == [(bvid, 1, "ready", "") for bvid, _ in SERIES_VIDEOS]


async def test_failed_items_are_listed_with_their_reason_and_the_rest_go_on(bilibili: FakeBilibili) -> None:
    collection = await submit_and_ingest(await make_user(), MIXED_FAVOURITES_LINK)
    assert await item_rows(collection) == [
        (SEASON_VIDEOS[1][0], 1, "ready", ""),
        (DELETED[0], 1, "failed", "collection_item_unavailable"),
        (PRIVATE_BVID, 1, "failed", "video_private"),
        (REGION_LOCKED[0], 1, "failed", "geo_restricted"),
    ]


async def test_progress_is_broadcast_on_the_collections_group(bilibili: FakeBilibili) -> None:
    user = await make_user()
    collection = await collection_submit(owner=user, text=SEASON_LINK)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(collection_group_name(collection.pk), channel)
    assert await collection_ingest(collection.pk)
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), timeout=0.5))
        except TimeoutError:
            break
    overall = [message for message in messages if message["what"] == "collection"]
    assert {message["type"] for message in messages} == {"collection.progress"}
    assert (overall[-1]["percent"], overall[-1]["finished"], overall[-1]["done"]) == (100, 3, True)
    ready_items = {message["bvid"] for message in messages if message["what"] == "item" and message["state"] == "ready"}
    assert ready_items == {bvid for bvid, _ in SEASON_VIDEOS}


async def test_a_video_link_of_a_season_video_names_its_season(bilibili: FakeBilibili) -> None:
    collection = await collection_submit(owner=await make_user(), text=f"https://b23.tv/{SEASON_VIDEOS[1][0]}")
    assert (collection.kind, collection.source_id, collection.title) == ("season", "4001", "三期合集")
    assert await collection.items.acount() == 3


async def test_a_season_video_with_more_parts_contributes_each_part(bilibili: FakeBilibili) -> None:
    bilibili.collections.seasons[4001] = ("两期合集", [SEASON_VIDEOS[0][0], TWO_PART[0]])
    collection = await submit_and_ingest(await make_user(), SEASON_LINK)
    assert await item_rows(collection) == [
        (SEASON_VIDEOS[0][0], 1, "ready", ""),
        (TWO_PART[0], 1, "ready", ""),
        (TWO_PART[0], 2, "ready", ""),
    ]

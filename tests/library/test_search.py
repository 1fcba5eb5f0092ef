"""Library search and the library's parts: only the user's own videos, hits as moment links."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chat.library import alibrary_search, library_part_ids, library_parts, library_search
from chat.retrieval import retrieve_across_parts
from core.errors import AppError
from tests.library.helpers import PORK, WINGS, acollection_of, aown, two_videos
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_search_finds_moments_in_two_of_my_videos_as_links_to_the_moment() -> None:
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)

    hits = await alibrary_search(user=alice, query="怎么炒糖色", limit=8)

    assert {hit.bvid for hit in hits} == {PORK, WINGS}
    for hit in hits:
        assert hit.url == f"/videos/{hit.bvid}/1/?t={hit.start_ms // 1000}"
    assert {hit.video_title for hit in hits} == {"红烧肉的做法", "可乐鸡翅"}


async def test_a_search_never_shows_another_users_videos() -> None:
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    pork, wings = await two_videos()
    await aown(alice, pork)
    await aown(bob, wings)

    alice_hits = await alibrary_search(user=alice, query="怎么炒糖色")
    bob_hits = await alibrary_search(user=bob, query="怎么炒糖色")

    assert {hit.bvid for hit in alice_hits} == {PORK}
    assert {hit.bvid for hit in bob_hits} == {WINGS}


async def test_an_empty_library_finds_nothing() -> None:
    carol = await User.objects.acreate(username="carol")
    await two_videos()
    assert await alibrary_search(user=carol, query="糖色") == []


async def test_a_search_in_a_collection_reads_only_its_videos() -> None:
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    collection = await acollection_of(alice, wings)

    hits = await alibrary_search(user=alice, query="怎么炒糖色", collection_id=collection.pk)

    assert {hit.bvid for hit in hits} == {WINGS}


async def test_someone_elses_collection_is_collection_not_found() -> None:
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    pork, wings = await two_videos()
    collection = await acollection_of(bob, pork, wings)

    with pytest.raises(AppError) as raised:
        await alibrary_search(user=alice, query="糖色", collection_id=collection.pk)

    assert raised.value.code == "collection_not_found"


async def test_the_sync_search_for_other_callers_gives_the_same_hits() -> None:
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)

    sync_hits = await sync_to_async(library_search)(user=alice, query="可乐鸡翅怎么做", limit=3)
    async_hits = await alibrary_search(user=alice, query="可乐鸡翅怎么做", limit=3)

    assert [hit.to_dict() for hit in sync_hits] == [hit.to_dict() for hit in async_hits]
    assert len(sync_hits) == 3


async def test_retrieval_across_parts_reads_only_the_given_parts_and_names_each_chunks_part() -> None:
    pork, wings = await two_videos()

    only_wings = await retrieve_across_parts([wings.pk], "怎么炒糖色", k=4)
    both = await retrieve_across_parts([pork.pk, wings.pk], "怎么炒糖色", k=8)

    assert {chunk.part_id for chunk in only_wings} == {wings.pk}
    assert {chunk.part_id for chunk in both} == {pork.pk, wings.pk}


async def test_the_library_is_requested_videos_and_collection_items() -> None:
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork)
    await acollection_of(alice, wings)

    ids = await sync_to_async(library_part_ids)(user=alice)

    assert ids == sorted([pork.pk, wings.pk])


async def test_library_parts_filter_by_status_uploader_and_collection() -> None:
    alice = await User.objects.acreate(username="alice")
    pork, wings = await two_videos()
    await aown(alice, pork, wings)
    collection = await acollection_of(alice, wings)
    await VideoPart.objects.filter(pk=pork.pk).aupdate(stage=VideoPart.Stage.FAILED)

    def bvids(**filters: object) -> list[str]:
        return [part.video.bvid for part in library_parts(user=alice, **filters)]

    assert sorted(await sync_to_async(bvids)()) == sorted([PORK, WINGS])
    assert await sync_to_async(bvids)(status="failed") == [PORK]
    assert await sync_to_async(bvids)(status="ready") == [WINGS]
    assert await sync_to_async(bvids)(status="in_progress") == []
    assert await sync_to_async(bvids)(uploader="小高姐") == [WINGS]
    assert await sync_to_async(bvids)(collection_id=collection.pk) == [WINGS]

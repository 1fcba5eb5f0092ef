"""Shared steps of the collection tests: a user, submitting a link, running the ingestion inline."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from videos.collection_ingest import collection_ingest
from videos.collections import collection_submit
from videos.models import Collection, CollectionItem


async def make_user(username: str = "alice") -> object:
    return await sync_to_async(get_user_model().objects.create_user)(username=username, password="pw-123456")


async def submit_and_ingest(user: object, link: str) -> Collection:
    collection = await collection_submit(owner=user, text=link)
    assert await collection_ingest(collection.pk)
    return collection


async def item_rows(collection: Collection) -> list[tuple[str, int, str, str]]:
    """(bvid, page, state, error_code) of every item, in order."""
    items = CollectionItem.objects.filter(collection=collection).order_by("position")
    return [row async for row in items.values_list("bvid", "page", "state", "error_code")]

"""Listings page through the source, stop at the item cap with a clear message, and the admin retries."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from core.errors import AppError
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import LONG_FOLDER, MIXED_FAVOURITES_LINK
from videos.collection_ingest import collection_ingest
from videos.collections import collection_submit
from videos.errors import COLLECTION_CAPPED
from videos.models import Collection, CollectionItem
from videos.selectors import collection_progress

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_a_long_folder_is_read_page_by_page(bilibili: FakeBilibili) -> None:
    user = User.objects.create_user("alice")
    collection = async_to_sync(collection_submit)(owner=user, text=f"ml{LONG_FOLDER}")
    pages = [call.query["pn"] for call in bilibili.calls("/x/v3/fav/resource/list")]
    assert (pages, collection.items.count(), collection.item_cap_reached) == (["1", "2", "3"], 45, False)


def test_the_item_cap_stops_the_listing_and_says_so(bilibili: FakeBilibili, settings) -> None:
    settings.COLLECTION_ITEM_CAP = 20
    user = User.objects.create_user("alice")
    collection = async_to_sync(collection_submit)(owner=user, text=f"ml{LONG_FOLDER}")
    pages = [call.query["pn"] for call in bilibili.calls("/x/v3/fav/resource/list")]
    assert (pages, collection.items.count(), collection.item_cap_reached) == (["1"], 20, True)
    progress = collection_progress(collection=Collection.objects.get(pk=collection.pk))
    assert progress["cap_message"] == AppError(COLLECTION_CAPPED, total=45, cap=20).message()


def test_the_admin_retries_failed_items(bilibili: FakeBilibili) -> None:
    user = User.objects.create_superuser("admin", password="pw-123456")
    collection = async_to_sync(collection_submit)(owner=user, text=MIXED_FAVOURITES_LINK)
    async_to_sync(collection_ingest)(collection.pk)
    client = Client()
    client.force_login(user)
    listing = client.get("/admin/videos/collection/").content.decode()
    assert "1 / 3 / 4" in listing
    response = client.post(
        "/admin/videos/collection/", {"action": "retry_failed", "_selected_action": [collection.pk]}, follow=True
    )
    assert [str(message) for message in response.context["messages"]] == [
        "queued 3 failed items again in 1 collections"
    ]
    assert sorted(CollectionItem.objects.filter(collection=collection).values_list("state", flat=True)) == [
        "queued",
        "queued",
        "queued",
        "ready",
    ]


def test_the_admin_shows_the_items_with_their_reason(bilibili: FakeBilibili) -> None:
    user = User.objects.create_superuser("admin", password="pw-123456")
    collection = async_to_sync(collection_submit)(owner=user, text=MIXED_FAVOURITES_LINK)
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(user)
    page = client.get(f"/admin/videos/collection/{collection.pk}/change/").content.decode()
    assert "This video is no longer available (deleted or made private)" in page

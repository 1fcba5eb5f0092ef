"""Collection pages: the owner sees every item's state and the overall bar; anyone else gets a 404."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import MIXED_FAVOURITES_LINK, SEASON_LINK
from videos.collection_ingest import collection_ingest
from videos.collections import collection_submit
from videos.models import Collection

pytestmark = [pytest.mark.django_db(transaction=True)]


def signed_in(username: str) -> tuple[User, Client]:
    user = User.objects.create_user(username)
    client = Client(headers={"Accept-Language": "zh-hans"})
    client.force_login(user)
    return user, client


def ingested(user: User, link: str) -> Collection:
    collection = async_to_sync(collection_submit)(owner=user, text=link)
    async_to_sync(collection_ingest)(collection.pk)
    return collection


def test_the_page_shows_the_overall_bar_and_every_item(bilibili: FakeBilibili) -> None:
    user, client = signed_in("alice")
    collection = ingested(user, SEASON_LINK)
    html = client.get(f"/collections/{collection.pk}/").content.decode()
    assert '<progress id="collection-bar" max="100" value="100">' in html
    assert html.count('data-state="ready"') == 3
    assert "3/3 完成（3 就绪，0 失败）" in html


def test_failed_items_show_their_reason(bilibili: FakeBilibili) -> None:
    user, client = signed_in("alice")
    collection = ingested(user, MIXED_FAVOURITES_LINK)
    html = client.get(f"/collections/{collection.pk}/").content.decode()
    assert html.count('data-state="failed"') == 3
    assert "这个视频已失效（被删除或设为私密）" in html


def test_someone_elses_collection_page_is_404(bilibili: FakeBilibili) -> None:
    alice, _ = signed_in("alice")
    collection = async_to_sync(collection_submit)(owner=alice, text=SEASON_LINK)
    _, bob = signed_in("bob")
    assert bob.get(f"/collections/{collection.pk}/").status_code == 404
    assert "三期合集" not in bob.get("/collections/").content.decode()


def test_the_list_shows_the_users_collections(bilibili: FakeBilibili) -> None:
    user, client = signed_in("alice")
    collection = async_to_sync(collection_submit)(owner=user, text=SEASON_LINK)
    html = client.get("/collections/").content.decode()
    assert f'<a href="/collections/{collection.pk}/">三期合集</a>' in html


def test_the_form_creates_the_collection_and_opens_its_page(bilibili: FakeBilibili) -> None:
    _, client = signed_in("alice")
    response = client.post("/collections/new/", {"link": SEASON_LINK})
    collection = Collection.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/collections/{collection.pk}/")
    assert collection.items.count() == 3


def test_a_refused_link_goes_back_to_the_form_with_its_message(bilibili: FakeBilibili) -> None:
    _, client = signed_in("alice")
    response = client.post("/collections/new/", {"link": "not a link"}, follow=True)
    html = response.content.decode()
    assert "无法识别的合集链接" in html
    assert 'value="not a link"' in html
    assert not Collection.objects.exists()


def test_the_retry_button_queues_the_failed_items_again(bilibili: FakeBilibili) -> None:
    user, client = signed_in("alice")
    collection = ingested(user, MIXED_FAVOURITES_LINK)
    response = client.post(f"/collections/{collection.pk}/retry/")
    states = sorted(collection.items.values_list("state", flat=True))
    assert (response.status_code, states) == (302, ["queued", "queued", "queued", "ready"])


def test_someone_else_cannot_retry(bilibili: FakeBilibili) -> None:
    alice, _ = signed_in("alice")
    collection = ingested(alice, MIXED_FAVOURITES_LINK)
    _, bob = signed_in("bob")
    assert bob.post(f"/collections/{collection.pk}/retry/").status_code == 404
    assert sorted(collection.items.values_list("state", flat=True)) == ["failed", "failed", "failed", "ready"]

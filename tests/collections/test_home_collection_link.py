"""A collection link pasted in home's link box starts the collection's ingest, as the collections
page's form does (the same view: home hands the POST on with a 307), and opens the collection's
page; a video link still opens the video page, even a video that is in a 合集."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tasks_db.models import DBTaskResult

from chat.models import UsageRecord, UserQuota
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import FAVOURITES_LINK, SEASON_LINK, SEASON_VIDEOS, SERIES_LINK
from videos.models import Collection, VideoPart

pytestmark = [pytest.mark.django_db(transaction=True)]


def signed_in(username: str = "alice", **client_options: bool) -> tuple[User, Client]:
    user = User.objects.create_user(username)
    client = Client(headers={"Accept-Language": "zh-hans"}, **client_options)
    client.force_login(user)
    return user, client


@pytest.mark.parametrize("link", [SEASON_LINK, SERIES_LINK, FAVOURITES_LINK, "ml5001"])
def test_a_collection_link_is_handed_to_the_collections_form_as_posted(link: str) -> None:
    _, client = signed_in()
    response = client.post("/videos/", {"link": link})
    assert (response.status_code, response["Location"]) == (307, "/collections/new/")


def test_a_season_link_on_home_queues_the_collection_and_opens_its_page(bilibili: FakeBilibili) -> None:
    _, client = signed_in(enforce_csrf_checks=True)
    client.get("/")
    token = client.cookies["csrftoken"].value

    response = client.post("/videos/", {"link": SEASON_LINK, "csrfmiddlewaretoken": token}, follow=True)

    collection = Collection.objects.get()
    assert response.redirect_chain == [("/collections/new/", 307), (f"/collections/{collection.pk}/", 302)]
    assert (collection.title, collection.items.count()) == ("三期合集", 3)
    assert list(DBTaskResult.objects.values_list("task_path", flat=True)) == ["videos.tasks.ingest_collection_task"]
    assert "<h1>三期合集</h1>" in response.content.decode()


def test_over_quota_a_collection_link_on_home_is_refused_before_anything_is_fetched(bilibili: FakeBilibili) -> None:
    user, client = signed_in()
    UserQuota.objects.create(user=user, daily_token_budget=100)
    UsageRecord.objects.create(user=user, purpose="chat", model="m", prompt_tokens=100)

    response = client.post("/videos/", {"link": SEASON_LINK}, follow=True)

    assert response.redirect_chain[-1] == ("/collections/", 302)
    assert f'value="{SEASON_LINK}"' in response.content.decode()
    assert 'id="collection-error"' in response.content.decode()
    assert bilibili.calls("/x/polymer/web-space/seasons_archives_list") == []
    assert not Collection.objects.exists()


def test_a_video_link_of_a_season_video_still_opens_the_video_page(bilibili: FakeBilibili) -> None:
    _, client = signed_in()
    bvid = SEASON_VIDEOS[0][0]

    response = client.post("/videos/", {"link": f"https://www.bilibili.com/video/{bvid}"})

    assert (response.status_code, response["Location"]) == (302, f"/videos/{bvid}/1/")
    assert VideoPart.objects.get(video__bvid=bvid).stage == VideoPart.Stage.QUEUED
    assert not Collection.objects.exists()

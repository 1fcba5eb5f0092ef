"""A collection link pasted in home's link box starts the collection's ingest, as the collections
page's form does (the same view: home hands the POST on with a 307), and opens the collection's
page; a refused one (over quota, a private folder, no videos) comes back to home's link box with
its message; a video link still opens the video page, even a video that is in a 合集."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tasks_db.models import DBTaskResult

from chat.models import UsageRecord, UserQuota
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import (
    FAVOURITES_LINK,
    PRIVATE_FAVOURITES_LINK,
    SEASON_LINK,
    SEASON_VIDEOS,
    SERIES_LINK,
)
from videos.models import Collection, VideoPart

pytestmark = [pytest.mark.django_db(transaction=True)]


def signed_in(username: str = "alice", **client_options: object) -> tuple[User, Client]:
    user = User.objects.create_user(username)
    client = Client(**{"headers": {"Accept-Language": "zh-hans"}, **client_options})
    client.force_login(user)
    return user, client


@pytest.mark.parametrize("link", [SEASON_LINK, SERIES_LINK, FAVOURITES_LINK, "ml5001"])
def test_a_collection_link_is_handed_to_the_collections_form_as_posted(link: str) -> None:
    _, client = signed_in()
    response = client.post("/videos/", {"link": link})
    assert (response.status_code, response["Location"]) == (307, "/collections/new/?from=home")


def test_a_season_link_on_home_queues_the_collection_and_opens_its_page(bilibili: FakeBilibili) -> None:
    _, client = signed_in(enforce_csrf_checks=True)
    client.get("/")
    token = client.cookies["csrftoken"].value

    response = client.post("/videos/", {"link": SEASON_LINK, "csrfmiddlewaretoken": token}, follow=True)

    collection = Collection.objects.get()
    assert response.redirect_chain == [
        ("/collections/new/?from=home", 307),
        (f"/collections/{collection.pk}/", 302),
    ]
    assert (collection.title, collection.items.count()) == ("三期合集", 3)
    assert list(DBTaskResult.objects.values_list("task_path", flat=True)) == ["videos.tasks.ingest_collection_task"]
    assert "<h1>三期合集</h1>" in response.content.decode()


def over_quota(user: User) -> None:
    UserQuota.objects.create(user=user, daily_token_budget=100)
    UsageRecord.objects.create(user=user, purpose="chat", model="m", prompt_tokens=100)


def link_error(html: str) -> str:
    """The text of home's link error (the message under the box)."""
    start = html.index('<p class="error-box" id="link-error" role="alert">') + len(
        '<p class="error-box" id="link-error" role="alert">'
    )
    return html[start : html.index("</p>", start)]


def test_over_quota_a_collection_link_on_home_is_refused_before_anything_is_fetched(bilibili: FakeBilibili) -> None:
    user, client = signed_in()
    over_quota(user)

    response = client.post("/videos/", {"link": SEASON_LINK}, follow=True)

    assert bilibili.calls("/x/polymer/web-space/seasons_archives_list") == []
    assert not Collection.objects.exists()
    assert response.redirect_chain == [("/collections/new/?from=home", 307), ("/#link-form", 302)]


def test_over_quota_home_shows_the_message_in_place_with_the_link(bilibili: FakeBilibili) -> None:
    user, client = signed_in()
    over_quota(user)
    html = client.post("/videos/", {"link": SEASON_LINK}, follow=True).content.decode()

    assert link_error(html) == "今日的 100 个 token 额度已用完"
    assert f'value="{SEASON_LINK}"' in html
    assert 'id="collection-error"' not in html


def test_a_private_folder_without_login_is_refused_on_home_in_english_too(bilibili: FakeBilibili, settings) -> None:
    settings.BILIBILI_SESSDATA = ""
    _, client = signed_in(headers={"Accept-Language": "en"})

    html = client.post("/videos/", {"link": PRIVATE_FAVOURITES_LINK}, follow=True).content.decode()

    assert link_error(html) == (
        "This favourites folder is private: it can only be read with its owner&#x27;s Bilibili login "
        "(BILIBILI_SESSDATA)"
    )
    assert not Collection.objects.exists()


def test_the_refusal_is_shown_once(bilibili: FakeBilibili, settings) -> None:
    settings.BILIBILI_SESSDATA = ""
    _, client = signed_in()
    client.post("/videos/", {"link": PRIVATE_FAVOURITES_LINK}, follow=True)

    html = client.get("/").content.decode()

    assert 'id="link-error"' not in html and PRIVATE_FAVOURITES_LINK not in html


def test_a_video_link_of_a_season_video_still_opens_the_video_page(bilibili: FakeBilibili) -> None:
    _, client = signed_in()
    bvid = SEASON_VIDEOS[0][0]

    response = client.post("/videos/", {"link": f"https://www.bilibili.com/video/{bvid}"})

    assert (response.status_code, response["Location"]) == (302, f"/videos/{bvid}/1/")
    assert VideoPart.objects.get(video__bvid=bvid).stage == VideoPart.Stage.QUEUED
    assert not Collection.objects.exists()

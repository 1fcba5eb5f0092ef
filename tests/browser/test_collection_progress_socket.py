"""In a real browser: a 合集 link pasted in home's link box opens the collection's page, which
follows its items over the progress socket, without polling the API, until every item is ready;
the items turn into links to their video pages. The "retry failed" button comes and goes with the
failed items while the page is open."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Page, expect

from core.errors import AppError
from tests.browser.conftest import Site
from tests.browser.test_video_page import sign_up
from tests.fakes.bilibili_collections import SEASON_LINK, SEASON_VIDEOS
from videos.collections import collection_retry_failed, item_state_save
from videos.errors import ITEM_UNAVAILABLE
from videos.models import Collection, CollectionItem

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def in_thread[Result](work: Callable[[], Result]) -> Result:
    """Database work in a thread of its own: Playwright's sync API leaves an event loop marked
    running in the test's thread, which blocks the ORM there."""

    def run() -> Result:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def queued_season(username: str) -> tuple[int, list[int]]:
    """The user's season with its items queued and no worker on it (the test moves them): its id
    and its items'."""
    collection = Collection.objects.create(
        owner=User.objects.get(username=username), kind=Collection.Kind.SEASON, source_id="1", title="三期合集"
    )
    items = [
        CollectionItem.objects.create(collection=collection, position=position, bvid=bvid)
        for position, (bvid, _aid) in enumerate(SEASON_VIDEOS)
    ]
    return collection.pk, [item.pk for item in items]


def test_the_collection_page_follows_its_items_over_the_socket(page: Page, site: Site) -> None:
    api_requests: list[str] = []
    page.on("request", lambda request: api_requests.append(request.url) if "/api/" in request.url else None)
    sign_up(page, site, "socket-collector")
    page.goto(f"{site.url}/")
    page.fill("#link", SEASON_LINK)
    page.click("#link-form button[type=submit]")
    page.wait_for_url(re.compile(r"/collections/\d+/$"))
    expect(page.locator("h1")).to_have_text("三期合集")
    expect(page.locator("#collection-progress")).to_have_attribute("data-follow", "socket")

    expect(page.locator('#collection-items > li[data-state="ready"]')).to_have_count(3, timeout=60_000)
    expect(page.locator("#collection-bar")).to_have_js_property("value", 100)
    expect(page.locator("#collection-summary")).to_contain_text("3/3")
    links = page.locator("#collection-items > li > a")
    expect(links).to_have_count(3)
    assert [links.nth(n).get_attribute("href") for n in range(3)] == [f"/videos/{bvid}/1/" for bvid, _ in SEASON_VIDEOS]
    assert api_requests == []


def test_the_retry_button_comes_and_goes_with_failed_items_while_the_page_is_open(page: Page, site: Site) -> None:
    sign_up(page, site, "socket-retrier")
    collection_id, item_ids = in_thread(lambda: queued_season("socket-retrier"))
    page.goto(f"{site.url}/collections/{collection_id}/")
    expect(page.locator("#collection-progress")).to_have_attribute("data-follow", "socket")
    retry = page.locator("#collection-retry")
    expect(retry).to_be_hidden()

    row = page.locator(f'#collection-items > li[data-item-id="{item_ids[0]}"]')
    in_thread(lambda: item_state_save(item_id=item_ids[0], state="failed", error=AppError(ITEM_UNAVAILABLE)))
    expect(row).to_have_attribute("data-state", "failed")
    expect(retry).to_be_visible()

    assert in_thread(lambda: collection_retry_failed(collection_id=collection_id)) == 1
    expect(row).to_have_attribute("data-state", "queued")
    expect(retry).to_be_hidden()

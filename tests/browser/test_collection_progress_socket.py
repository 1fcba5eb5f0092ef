"""In a real browser: a 合集 link pasted in home's link box opens the collection's page, which
follows its items over the progress socket, without polling the API, until every item is ready;
the items turn into links to their video pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.browser.test_video_page import sign_up
from tests.fakes.bilibili_collections import SEASON_LINK, SEASON_VIDEOS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


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

"""In a real browser: paste a 合集 link, watch every item and the overall bar reach ready."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.fakes.bilibili_collections import SEASON_LINK

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-pass-phrase-9"


def test_a_season_link_ingests_with_progress_on_the_page(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/accounts/signup/")
    page.fill("#id_username", "collector")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("form.card button[type=submit]")
    expect(page.locator(".topbar .who")).to_have_text("collector")

    page.goto(f"{site.url}/collections/")
    page.fill("#collection-link", SEASON_LINK)
    page.click("#collection-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("三期合集")
    expect(page.locator("#collection-items > li")).to_have_count(3)
    expect(page.locator('#collection-items > li[data-state="ready"]')).to_have_count(3, timeout=60_000)
    expect(page.locator("#collection-bar")).to_have_js_property("value", 100)
    expect(page.locator("#collection-summary")).to_contain_text("3/3")

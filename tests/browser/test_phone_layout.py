"""The site on a 390 x 844 phone and on a 1366 px desktop (issue 16): no horizontal scrolling, the
player stays in view (sticky) while the chat is read, summary / chat / chapters share tabs below
it, touch targets are at least 44 px; the desktop keeps the player and the chat side by side.

Screenshots of the main pages at both widths, light and dark, go to test-artifacts/screenshots/;
with UPDATE_SCREENSHOTS=1 to docs/screenshots/ (the README shows those).
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Browser, Page, expect

from chatbili_site.settings import BASE_DIR
from tests.browser.conftest import ARTIFACTS, Site, axe_violations, new_page, wait_for_video_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
MIN_TARGET = 44
# What a finger taps: every visible control, the nav links, tabs, citation chips and chapter links.
TARGETS = (
    "button:not(.phone-tab), select, input:not([type=hidden]), textarea, .phone-tab, nav a, a.chip, "
    "a.chapter-link, .example-link, .video-list a, .export-links a, .earlier summary"
)
SMALL_TARGETS = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((element) => element.offsetParent !== null && !element.closest('[hidden], .visually-hidden'))
  .map((element) => [element, element.getBoundingClientRect()])
  .filter(([, box]) => box.width > 0 && (box.width < 44 || box.height < 44))
  .map(([element, box]) => element.tagName.toLowerCase() + '#' + element.id + '.' + element.className
    + ' "' + (element.textContent || element.value || '').trim().slice(0, 20) + '" '
    + Math.round(box.width) + 'x' + Math.round(box.height))"""
# The top bar on a phone is one row: 44 px touch targets, .3rem (4.8 px) padding above and below, a 1 px border.
TOP_BAR_MAX_HEIGHT = 44 + 2 * 4.8 + 1
HORIZONTAL_OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def phone(browser: Browser, site: Site, session: str | None = None, locale: str = "zh-CN") -> Page:
    return new_page(browser, site, session=session, locale=locale, mobile=True, **PHONE)


def visible_cards(page: Page) -> list[str]:
    return page.evaluate(
        """['summary-card', 'chat-card', 'chapters-card']
             .filter((id) => document.getElementById(id).offsetParent !== null)"""
    )


def test_no_page_scrolls_sideways_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    pages = {
        None: ["/", "/accounts/login/", "/accounts/signup/"],
        "reader": ["/", module_video, "/history/", "/account/"],
    }
    overflowing = {}
    for user, paths in pages.items():
        for locale in ("zh-CN", "en-US"):
            page = phone(module_browser, site, module_users.get(user or ""), locale)
            for path in paths:
                page.goto(path if path.startswith("http") else site.url + path)
                if "/videos/" in path:
                    wait_for_video_page(page)
                if page.evaluate(HORIZONTAL_OVERFLOW) > 0:
                    overflowing[f"{user} {locale} {path}"] = page.evaluate(HORIZONTAL_OVERFLOW)
            page.context.close()
    assert overflowing == {}


def top_bar_height(page: Page) -> float:
    box = page.locator(".topbar").bounding_box()
    assert box is not None
    return box["height"]


def test_the_top_bar_is_one_compact_row_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    heights = {}
    for user in (None, "reader"):
        for locale in ("zh-CN", "en-US"):
            page = phone(module_browser, site, module_users.get(user or ""), locale)
            page.goto(site.url + "/")
            heights[f"{user} {locale}"] = top_bar_height(page)
            page.context.close()
    assert {name: height for name, height in heights.items() if height > TOP_BAR_MAX_HEIGHT} == {}


def test_the_less_used_links_open_from_the_more_menu_by_keyboard_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = phone(module_browser, site, module_users["reader"], "en-US")
    page.goto(site.url + "/")
    security = page.get_by_role("link", name="Account security")
    expect(security).to_be_hidden()
    page.get_by_role("link", name="My library").focus()
    page.keyboard.press("Tab")
    expect(page.locator(".nav-more > summary")).to_be_focused()
    page.keyboard.press("Enter")
    expect(security).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator(".nav-more-items .who")).to_be_focused()
    assert top_bar_height(page) <= TOP_BAR_MAX_HEIGHT  # the open menu overlays the page
    assert axe_violations(page, site) == []
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "nav-menu-390-en.png"))
    page.locator(".nav-more > summary").press("Enter")
    expect(security).to_be_hidden()
    page.context.close()


def test_the_top_bar_and_its_open_menu_are_axe_clean_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    violations = {}
    for user in (None, "reader"):
        for locale in ("zh-CN", "en-US"):
            page = phone(module_browser, site, module_users.get(user or ""), locale)
            page.goto(site.url + "/")
            page.locator(".nav-more > summary").click()
            expect(page.get_by_role("combobox")).to_be_visible()  # the language, inside the menu
            if found := axe_violations(page, site):
                violations[f"{user} {locale}"] = found
            page.context.close()
    assert violations == {}


def test_the_desktop_shows_every_nav_link_without_the_menu(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = new_page(module_browser, site, session=module_users["reader"], **DESKTOP)
    page.goto(site.url + "/")
    expect(page.locator(".nav-more > summary")).to_be_hidden()
    expect(page.get_by_role("link", name="账号安全")).to_be_visible()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    page.context.close()


def test_summary_chat_and_chapters_are_tabs_below_the_player_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = phone(module_browser, site, module_users["reader"])
    page.goto(module_video)
    wait_for_video_page(page)
    tabs = page.get_by_role("tablist", name="视频内容").get_by_role("tab")
    expect(tabs).to_have_text(["总结", "对话", "章节"])
    assert visible_cards(page) == ["summary-card"]
    tabs.nth(1).click()
    assert visible_cards(page) == ["chat-card"]
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowRight")  # arrow keys move between the tabs
    expect(tabs.nth(2)).to_be_focused()
    assert visible_cards(page) == ["chapters-card"]
    page.context.close()


def test_the_player_stays_in_view_while_reading_the_chat_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = phone(module_browser, site, module_users["reader"])
    page.goto(module_video)
    wait_for_video_page(page)
    page.get_by_role("tab", name="对话").click()
    page.locator("#ask-form").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 400)")
    assert page.evaluate("window.scrollY") > 300  # the page did scroll
    player = page.locator("#player").bounding_box()
    assert player is not None and player["y"] == 0 and player["height"] >= 200, player
    question = page.locator("#question").bounding_box()
    assert question is not None and question["y"] + question["height"] <= PHONE["height"], question
    tabs = page.locator("#phone-tabs").bounding_box()
    assert tabs is not None and tabs["y"] >= player["height"] - 1, (tabs, player)
    page.context.close()


def test_touch_targets_are_at_least_44_px_on_a_phone(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    small = {}
    for path in ("/", "/history/", "/account/", module_video):
        page = phone(module_browser, site, module_users["reader"])
        page.goto(path if path.startswith("http") else site.url + path)
        if path == module_video:
            wait_for_video_page(page)
        found = page.evaluate(SMALL_TARGETS, TARGETS)
        if path == module_video:
            for tab in ("对话", "章节"):
                page.get_by_role("tab", name=tab).click()
                found += page.evaluate(SMALL_TARGETS, TARGETS)
        if found:
            small[path] = sorted(set(found))
        page.context.close()
    assert small == {}


def test_the_desktop_keeps_the_player_and_the_chat_side_by_side(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = new_page(module_browser, site, session=module_users["reader"], **DESKTOP)
    page.goto(module_video)
    wait_for_video_page(page)
    expect(page.locator("#phone-tabs")).to_be_hidden()
    player = page.locator(".player").bounding_box()
    chat = page.locator("#chat-card").bounding_box()
    summary = page.locator("#summary-card").bounding_box()
    assert player and chat and summary
    assert chat["x"] > player["x"] + player["width"], (player, chat)
    assert summary["y"] > player["y"] and summary["x"] == player["x"]
    assert page.evaluate(HORIZONTAL_OVERFLOW) == 0
    page.context.close()


def test_screenshots_of_the_main_pages(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    """Home and the video page at 1366 and 390 px, light and dark (see the module docstring)."""
    folder = BASE_DIR / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for width, size in (("1366", DESKTOP), ("390", PHONE)):
        for scheme in ("light", "dark"):
            page = new_page(module_browser, site, session=module_users["reader"], mobile=width == "390", **size)
            page.emulate_media(color_scheme=scheme)
            for name, url in (("home", site.url + "/"), ("video", module_video)):
                page.goto(url)
                if name == "video":
                    wait_for_video_page(page)
                path = folder / f"{name}-{width}-{scheme}.png"
                page.screenshot(path=str(path))
                written.append(path.name)
            page.context.close()
    assert len(written) == 8 and all((folder / name).stat().st_size > 10_000 for name in written)

"""Chapters, the mind map and progressive long summaries in a real browser (issue 13).

The chapter list beside the player seeks the player and follows playback (by a clock from the
last seek: the Bilibili iframe reports no time); the mind map (vendored markmap) renders the
part's outline, its nodes seek, and it exports as Markdown, standalone HTML, SVG and PNG; a long
part shows its first section while the last map call is still streaming. Every page runs under
the site's Content-Security-Policy: a violation fails the test (conftest `page`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, Site
from tests.browser.fakes import LONG_BVID, LONG_CUE_COUNT, TITLE_PAYLOAD, XSS_BVID, section_title
from tests.browser.test_video_page import paste_link, player_seconds, sign_up, wait_until_ready

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BVID = "BV117411r7R1"  # two cues, and the uploader's own chapters (tests/fakes/bilibili.py)
UPLOADER_TITLES = ["开场", "打招呼", "快板正片"]


def open_ready_video(page: Page, site: Site, username: str, bvid: str = BVID) -> None:
    sign_up(page, site, username)
    paste_link(page, bvid, bvid)
    wait_until_ready(page)
    expect(page.locator("#summary")).to_have_attribute("data-state", "done", timeout=60_000)


def api(page: Page, site: Site, path: str) -> Any:
    """GET an API address with the page's session."""
    response = page.request.get(f"{site.url}/api/v1/videos/{BVID}/parts/1/{path}")
    assert response.status == 200, response.text()
    return response.json()


def chapters_of(body: Any) -> list[dict]:
    return body["chapters"] if isinstance(body, dict) else body


def chapter_link(page: Page, number: int):
    return page.locator("#chapters li.chapter").nth(number).locator("a.chapter-link")


def open_mind_map(page: Page) -> None:
    page.click("#tab-mindmap")
    expect(page.locator("#mindmap-frame")).to_have_attribute("data-state", "ready")


def test_the_chapter_list_renders_beside_the_player_and_a_click_seeks(page: Page, site: Site) -> None:
    open_ready_video(page, site, "chapters")
    chapters = chapters_of(api(page, site, "chapters"))
    assert [chapter["title"] for chapter in chapters] == UPLOADER_TITLES
    expect(page.locator("#chapters-card")).to_be_visible()
    expect(page.locator("#chapters .chapter-title")).to_have_text(UPLOADER_TITLES)
    expect(page.locator("#chapters-source")).to_have_text("UP 主分段")
    player_box, chapters_box = page.locator("#player").bounding_box(), page.locator("#chapters-card").bounding_box()
    assert chapters_box["x"] > player_box["x"] + player_box["width"], "the list is beside the player"
    assert chapters_box["y"] < player_box["y"] + player_box["height"]

    chapter_link(page, 2).click()
    assert player_seconds(page) == str(chapters[2]["start_ms"] // 1000)
    expect(page.locator("#chapters li.chapter").nth(2)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(chapter_link(page, 2)).to_have_attribute("aria-current", "true")
    page.screenshot(path=ARTIFACTS / "chapters.png")


def test_the_chapter_list_works_with_the_keyboard(page: Page, site: Site) -> None:
    open_ready_video(page, site, "chapters-keys")
    page.reload()  # the list as the server renders it (templates/chat/_chapters.html)
    expect(page.locator("#chapters .chapter-title")).to_have_text(UPLOADER_TITLES)
    chapters = chapters_of(api(page, site, "chapters"))
    chapter_link(page, 0).focus()
    page.keyboard.press("ArrowDown")
    expect(chapter_link(page, 1)).to_be_focused()
    page.keyboard.press("End")
    expect(chapter_link(page, 2)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    assert player_seconds(page) == str(chapters[1]["start_ms"] // 1000)


def test_the_current_chapter_follows_playback_from_the_last_seek(page: Page, site: Site) -> None:
    open_ready_video(page, site, "chapters-clock")
    chapters = chapters_of(api(page, site, "chapters"))
    assert chapters[2]["start_ms"] - chapters[1]["start_ms"] < 3000, "the second chapter is short"
    chapter_link(page, 1).click()
    items = page.locator("#chapters li.chapter")
    expect(items.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    # The clock runs on: about a second later the third chapter is playing.
    expect(items.nth(2)).to_have_class(re.compile(r"\bcurrent\b"), timeout=5000)
    expect(items.nth(1)).not_to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#chapters a[aria-current]")).to_have_count(1)


def test_the_mind_map_renders_the_outline_and_a_node_seeks(page: Page, site: Site) -> None:
    open_ready_video(page, site, "mindmap")
    body = api(page, site, "mindmap")
    open_mind_map(page)
    nodes = page.locator("#mindmap-svg g.markmap-node")
    expect(nodes.first).to_be_visible()
    for chapter in UPLOADER_TITLES:
        expect(page.locator("#mindmap-svg")).to_contain_text(chapter)
    links = page.locator("#mindmap-svg a.mindmap-seek")
    assert links.count() >= len(UPLOADER_TITLES)
    target = links.filter(has_text=UPLOADER_TITLES[2])
    seconds = target.get_attribute("data-seek")
    assert seconds == str(chapters_of(api(page, site, "chapters"))[2]["start_ms"] // 1000)
    target.click()
    assert player_seconds(page) == seconds
    assert "快板正片" in body["markdown"]
    page.screenshot(path=ARTIFACTS / "mindmap.png")


def test_the_mind_map_folds_and_zooms(page: Page, site: Site) -> None:
    open_ready_video(page, site, "mindmap-fold")
    open_mind_map(page)
    nodes = page.locator("#mindmap-svg g.markmap-node")
    expect(nodes.first).to_be_visible()
    shown = nodes.count()
    root_circle = page.locator('#mindmap-svg g.markmap-node[data-depth="1"] > circle')
    root_circle.click()  # fold everything under the root
    expect(nodes).to_have_count(1)
    root_circle.click()
    expect(nodes).to_have_count(shown)
    before = page.get_attribute("#mindmap-svg > g", "transform")
    page.click("#mindmap-zoom-in")
    expect(page.locator("#mindmap-svg > g")).not_to_have_attribute("transform", before or "")


def test_the_mind_map_exports_markdown_html_svg_and_png(page: Page, site: Site, tmp_path: Path) -> None:
    open_ready_video(page, site, "mindmap-export")
    body = api(page, site, "mindmap")
    open_mind_map(page)
    files = {}
    for kind in ("md", "html", "svg", "png"):
        with page.expect_download() as info:
            page.click(f"#mindmap-export-{kind}")
        files[kind] = (info.value.suggested_filename, Path(info.value.path()).read_bytes())
    assert files["md"] == (f"{BVID}-p1-mindmap.md", body["markdown"].encode())
    name, svg = files["svg"]
    assert name == f"{BVID}-p1-mindmap.svg"
    assert svg.startswith(b"<svg") and "快板正片".encode() in svg
    assert f"https://www.bilibili.com/video/{BVID}/?p=1&amp;t=".encode() in svg
    name, png = files["png"]
    assert name == f"{BVID}-p1-mindmap.png" and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    name, html = files["html"]
    assert name == f"{BVID}-p1-mindmap.html"
    assert not re.search(rb"<(script|link|img)[^>]+(src|href)=", html), "the HTML references nothing"

    # The standalone HTML draws the map with nothing but itself (every request is refused).
    standalone = tmp_path / "mindmap.html"
    standalone.write_bytes(html)
    offline = page.context.browser.new_page()
    requests: list[str] = []
    offline.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    offline.route(standalone.as_uri(), lambda route: route.continue_())  # the later route wins
    errors: list[str] = []
    offline.on("pageerror", lambda error: errors.append(str(error)))
    offline.goto(standalone.as_uri())
    expect(offline.locator("svg#mindmap g.markmap-node").first).to_be_visible()
    expect(offline.locator("svg#mindmap")).to_contain_text("快板正片")
    offline.close()
    assert requests == [] and not errors


def test_a_long_summary_shows_its_first_section_before_the_last_map_call_ends(page: Page, site: Site) -> None:
    sign_up(page, site, "long-video")
    paste_link(page, LONG_BVID, LONG_BVID)
    wait_until_ready(page)

    first = page.locator("#summary-sections .section-note").first
    expect(first).to_be_visible(timeout=60_000)
    systems = llm_systems(site)
    map_calls = [system for system in systems if "其中一段做笔记" in system]
    reduce_started = any("合并成全片摘要" in system and "总结助手" in system for system in systems)
    assert not reduce_started and site.llm.in_flight >= 1, "the last map call is still streaming"
    assert len(map_calls) >= 2
    expect(first.locator(".chapter-title")).to_have_text(section_title(1))
    expect(page.locator("#chapters li.chapter").first.locator(".chapter-title")).to_have_text(section_title(1))
    expect(page.locator("#summary")).to_have_attribute("data-state", "streaming")
    # The map's progress frames belong to the summary: the ingestion panel stays hidden.
    expect(page.locator("#summary-status")).to_contain_text(re.compile(r"正在阅读第 \d+/\d+ 段"))
    expect(page.locator("#ingest")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "long-summary-first-section.png")

    # Then the final summary replaces the section notes; every section is a chapter.
    expect(page.locator("#summary")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(page.locator("#summary-sections")).to_be_hidden()
    expect(page.locator("#chapters li.chapter")).to_have_count(len(map_calls))
    last = page.locator("#chapters li.chapter").last
    assert int(last.get_attribute("data-end-ms")) >= (LONG_CUE_COUNT - 1) * 5000


def test_the_english_page_shows_chapters_and_the_mind_map_in_english(page: Page, site: Site) -> None:
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": site.url}])
    open_ready_video(page, site, "english")
    expect(page.locator("#chapters-heading")).to_have_text("Chapters")
    expect(page.locator("#chapters-source")).to_have_text("Uploader's chapters")
    expect(page.locator("#tab-summary")).to_have_text("Summary")
    expect(page.locator("#tab-mindmap")).to_have_text("Mind map")
    expect(page.locator("#summary-style option")).to_have_text(["Brief", "Standard", "Study notes", "Q&A"])
    open_mind_map(page)
    expect(page.locator("#mindmap-svg g.markmap-node").first).to_be_visible()
    expect(page.locator("#mindmap-panel")).to_contain_text("Click a node with a time to play from there")


def llm_systems(site: Site) -> list[str]:
    """The system prompts of the chat calls the fake LLM got, in order."""
    calls = site.llm.answered("/v1/chat/completions")
    return [str(call.body["messages"][0]["content"]) for call in calls]


def summary_requests(site: Site) -> list[str]:
    return [system for system in llm_systems(site) if "视频总结助手" in system]


def test_the_style_picker_sends_the_style_with_the_summary_request(page: Page, site: Site) -> None:
    open_ready_video(page, site, "styles")
    before = len(summary_requests(site))
    page.select_option("#summary-style", "study")
    expect(page.locator("#summary")).to_have_attribute("data-state", "streaming")
    expect(page.locator("#summary")).to_have_attribute("data-state", "done")
    new = summary_requests(site)[before:]
    assert len(new) == 1 and "本次的总结风格：学习笔记" in new[0]


def test_a_saved_template_is_offered_and_used(page: Page, site: Site) -> None:
    open_ready_video(page, site, "templates")
    csrf = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    response = page.request.post(
        f"{site.url}/api/v1/summary-templates",
        data={"name": "只看结论", "instructions": "只列出《{title}》的结论。"},
        headers={"X-CSRFToken": csrf, "Referer": site.url + "/"},
    )
    assert response.status == 201, response.text()
    template = response.json()
    page.reload()
    option = page.locator(f'#summary-style option[value="custom:{template["id"]}"]')
    expect(option).to_have_text("只看结论")
    before = len(site.llm.requests)
    page.select_option("#summary-style", f"custom:{template['id']}")
    expect(page.locator("#summary")).to_have_attribute("data-state", "streaming")
    expect(page.locator("#summary")).to_have_attribute("data-state", "done")
    prompts = ["\n".join(m["content"] for m in r.body["messages"]) for r in site.llm.requests[before:]]
    assert any("只列出《当我给拜年祭的快板加了电音配乐…》的结论。" in prompt for prompt in prompts), prompts


def test_hostile_text_in_the_mind_map_and_chapters_stays_text(page: Page, site: Site) -> None:
    open_ready_video(page, site, "mindmap-xss", XSS_BVID)
    open_mind_map(page)
    mind_map = page.locator("#mindmap-svg")
    expect(mind_map).to_contain_text(f"XSS 测试 {TITLE_PAYLOAD}")  # the root: the hostile title, as text
    page.wait_for_timeout(500)  # an injected <img src=x> would have failed to load by now
    assert page.evaluate("window.__xss") is None
    assert page.locator("#mindmap-svg img, #mindmap-svg script, #chapters img, #chapters script").count() == 0

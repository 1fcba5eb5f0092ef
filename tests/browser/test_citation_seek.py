"""A chat citation in a real browser seeks the player to the sentence it quotes: within one
transcript line (cue) of that sentence's start, not to the start of its chunk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.browser.fakes import PRECISE_BVID, PRECISE_LINES, PRECISE_QUOTE, precise_answer, precise_video
from tests.browser.test_video_page import ask, paste_link, player_seconds, sign_up, wait_until_ready

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tea_site(site: Site) -> Iterator[Site]:
    """The site with the tea video in its fake Bilibili and its answer in the fake LLM."""
    site.bilibili.videos[PRECISE_BVID] = precise_video()
    other_replies = site.llm.reply
    site.llm.reply = lambda body: precise_answer(body) or other_replies(body)
    yield site
    site.llm.reply = other_replies
    del site.bilibili.videos[PRECISE_BVID]


def test_a_citation_seeks_the_player_to_within_one_line_of_the_quoted_sentence(page: Page, tea_site: Site) -> None:
    quoted = next(index for index, line in enumerate(PRECISE_LINES) if line[2] == PRECISE_QUOTE)
    sign_up(page, tea_site, "tea-drinker")
    paste_link(page, f"https://www.bilibili.com/video/{PRECISE_BVID}", PRECISE_BVID)
    wait_until_ready(page)

    _, answer = ask(page, "水温要多少度？")
    assert PRECISE_QUOTE in answer, answer
    answer_box = page.locator("#chat-log .message.assistant").last
    expect(answer_box.locator("a.seek")).to_have_count(2)  # the time in the text, and its citation chip

    # The player's t= is whole seconds: the cited line's start, rounded down.
    within_one_line = {int(PRECISE_LINES[index][0]) for index in (quoted - 1, quoted)}
    answer_box.locator(".body a.seek").click()
    assert int(player_seconds(page)) in within_one_line, (player_seconds(page), within_one_line)
    page.locator("#transcript a.seek").first.click()  # elsewhere, so the chip's seek is seen
    assert player_seconds(page) == "0"
    answer_box.locator("a.seek.chip").click()
    assert int(player_seconds(page)) in within_one_line, (player_seconds(page), within_one_line)

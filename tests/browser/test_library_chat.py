"""Cross-video chat in a real browser: a favourites folder of two videos is ingested, a question
about both is answered on the library page with two citations naming the two videos, and each
citation opens its video's page with the player at the cited moment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.browser.test_video_page import player_seconds, sign_up
from tests.fakes.bilibili import FakePart, FakeSubtitle, FakeVideo
from tests.fakes.bilibili_collections import FakeFolder

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Each cue is long enough (≥ 16 tokens) to be a prompt line of its own, so a label's time is its cue's start.
PORK = ("BV1As411Y7JK", 7770011, "红烧肉的做法")
PORK_LINES = [
    (0.5, 9.5, "大家好，今天我们来做一道家常的红烧肉，肥而不腻，入口即化。"),
    (10.0, 19.5, "先把五花肉切成三厘米左右的方块，冷水下锅焯水去掉血沫。"),
    (20.0, 39.5, "焯好的肉捞出来用温水洗干净，沥干水分备用，这一步不能省。"),
    (40.0, 59.5, "锅里放少许油，加入冰糖小火慢慢炒出糖色，颜色变成枣红就可以了。"),
    (60.0, 89.5, "把肉倒进去翻炒上色，再加入生抽老抽和八角桂皮，倒入开水没过肉。"),
    (90.0, 119.5, "小火炖上一个小时，最后大火收汁，一锅红烧肉就做好了。"),
]
PORK_QUOTE = "加入冰糖小火慢慢炒出糖色"
WINGS = ("BV1As411Y7JV", 7770012, "可乐鸡翅")
WINGS_LINES = [
    (0.5, 14.5, "今天教大家做可乐鸡翅，简单又好吃，小朋友特别喜欢这道菜。"),
    (15.0, 29.5, "鸡翅两面各划两刀方便入味，冷水下锅加姜片焯水，捞出沥干。"),
    (30.0, 62.5, "锅里少许油，把鸡翅煎到两面金黄，盛出来放在一边备用。"),
    (63.5, 84.5, "用锅里的底油放几颗冰糖炒糖色，糖色起小泡变成琥珀色就下鸡翅。"),
    (85.0, 119.5, "倒入一整罐可乐没过鸡翅，大火烧开转中火炖十五分钟，收汁出锅。"),
]
WINGS_QUOTE = "放几颗冰糖炒糖色"
FOLDER_ID = 5101
FOLDER_LINK = f"https://space.bilibili.com/1/favlist?fid={FOLDER_ID}"
QUESTION = "这两个视频分别是怎么炒糖色的？"


def cooking_video(bvid: str, aid: int, title: str, lines: list[tuple[float, float, str]]) -> FakeVideo:
    part = FakePart(aid * 10 + 1, title, 120, subtitles=[FakeSubtitle("zh-CN", "中文（中国）", lines)])
    return FakeVideo(bvid, aid, title, parts=[part])


def label_of(prompt: str, quote: str) -> str:
    """The `[V<part id> mm:ss]` label leading the excerpt line that holds the quote."""
    line = next(line for line in prompt.splitlines() if quote in line)
    match = re.match(r"\[V\d+ [\d:]+\]", line)
    assert match, line
    return match.group(0)


def cross_video_answer(body: dict[str, Any]) -> str | None:
    """A careful model's answer to the cross-video question: one moment of each video, its label
    copied from the excerpts; None for any other request."""
    if "多个哔哩哔哩视频" not in body["messages"][0]["content"]:
        return None
    prompt = body["messages"][-1]["content"]
    pork, wings = label_of(prompt, PORK_QUOTE), label_of(prompt, WINGS_QUOTE)
    return f"红烧肉是用冰糖小火炒糖色 {pork}；可乐鸡翅是用底油放冰糖炒到琥珀色 {wings}。"


@pytest.fixture
def cooking_site(site: Site) -> Iterator[Site]:
    """The site with a favourites folder of the two cooking videos and the cross-video answer."""
    videos = [cooking_video(*PORK, PORK_LINES), cooking_video(*WINGS, WINGS_LINES)]
    for video in videos:
        site.bilibili.videos[video.bvid] = video
    site.bilibili.collections.folders[FOLDER_ID] = FakeFolder("两道家常菜", [PORK[0], WINGS[0]])
    other_replies = site.llm.reply
    site.llm.reply = lambda body: cross_video_answer(body) or other_replies(body)
    yield site
    site.llm.reply = other_replies
    del site.bilibili.collections.folders[FOLDER_ID]
    for video in videos:
        del site.bilibili.videos[video.bvid]


def quote_second(lines: list[tuple[float, float, str]], quote: str) -> str:
    """The player's t= for the cue holding the quote: its start in whole seconds."""
    return str(int(next(start for start, _end, text in lines if quote in text)))


def test_a_cross_video_answer_cites_two_videos_and_each_citation_opens_its_moment(
    page: Page, cooking_site: Site
) -> None:
    site = cooking_site
    sign_up(page, site, "home-cook")
    page.goto(f"{site.url}/collections/")
    page.fill("#collection-link", FOLDER_LINK)
    page.click("#collection-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("两道家常菜")
    expect(page.locator('#collection-items > li[data-state="ready"]')).to_have_count(2, timeout=90_000)

    page.click("#collection-chat-link")
    page.wait_for_url(re.compile(r"/library/\?collection=\d+$"))
    expect(page.locator("#library-socket-state")).to_have_attribute("data-state", "open")
    page.fill("#library-question", QUESTION)
    page.press("#library-question", "Enter")
    answer = page.locator("#library-chat-log .message.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".body")).to_contain_text("红烧肉是用冰糖小火炒糖色")
    chips = answer.locator("a.library-citation")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_have_text(f"{PORK[2]} 00:40")
    expect(chips.nth(1)).to_have_text(f"{WINGS[2]} 01:03")
    moments = answer.locator(".body a.library-moment")  # the labels in the text link there too
    expect(moments).to_have_count(2)
    assert [moments.nth(n).get_attribute("href") for n in (0, 1)] == [
        chips.nth(n).get_attribute("href") for n in (0, 1)
    ]

    for index, (bvid, lines, quote) in enumerate(
        [(PORK[0], PORK_LINES, PORK_QUOTE), (WINGS[0], WINGS_LINES, WINGS_QUOTE)]
    ):
        second = quote_second(lines, quote)
        page.locator("#library-chat-log .message.assistant").last.locator("a.library-citation").nth(index).click()
        page.wait_for_url(re.compile(rf"/videos/{bvid}/1/\?t={second}$"))
        assert player_seconds(page) == second
        page.go_back()
        expect(page.locator("#library-chat-log .message.assistant a.library-citation")).to_have_count(2)

"""The rough edges of issue 16, each walked in a real browser: the English account page's header
example, a refused link back on the form, the private-video message, the home link box signed out
kept through the login, the restored conversation, comment drafts in Bilibili's own `mm:ss`,
dark mode, the keyboard (`/`, `?`, `Esc`, `j`/`k`) and what a screen reader is told.

One browser and one site for the module (conftest: module_browser, module_users, module_video).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PASSWORD,
    QUESTION,
    VIDEO_PATH,
    Site,
    axe_violations,
    new_page,
    wait_for_video_page,
)
from tests.browser.fakes import ANSWER_REPLY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PRIVATE_VIDEO = "BV1L9Uoa9EUx"
RELATIVE_LUMINANCE = """(colour) => {
  const [r, g, b] = colour.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((value) => {
    const c = value / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def reader_page(browser: Browser, site: Site, users: dict[str, str], locale: str = "zh-CN") -> Page:
    return new_page(browser, site, session=users["reader"], locale=locale)


def submit_link(page: Page, link: str) -> None:
    page.fill("#link", link)
    page.click("#link-form button[type=submit]")


def test_the_english_account_page_shows_the_header_with_its_token_placeholder(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = reader_page(module_browser, site, module_users, locale="en-US")
    page.goto(site.url + "/account/")
    expect(page.locator("#tokens code.header-example")).to_have_text("Authorization: Bearer <token>")
    page.context.close()


def test_a_refused_link_returns_to_the_form_with_the_message_the_link_and_examples(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(site.url + "/")
    submit_link(page, "https://space.bilibili.com/2")
    expect(page.locator("#link-error")).to_have_text(
        "无法识别的哔哩哔哩视频链接：请粘贴视频页地址、b23.tv 短链接或 BV/av 号"
    )
    assert page.url == site.url + "/#link-form"  # a page of its own: reloading posts nothing again
    expect(page.locator("#link")).to_have_value("https://space.bilibili.com/2")
    expect(page.locator("#link")).to_have_attribute("aria-invalid", "true")
    examples = page.locator("#link-examples a.example-link")
    expect(examples).to_have_text(["https://www.bilibili.com/video/BV17x411w7KC?p=2", "BV117411r7R1", "av170001"])
    examples.nth(2).click()
    expect(page.locator("#link")).to_have_value("av170001")
    page.context.close()


def test_a_private_video_is_explained_in_our_own_words(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(site.url + "/")
    submit_link(page, PRIVATE_VIDEO)
    error = page.locator("#link-error")
    expect(error).to_have_text(
        "这个视频目前不公开（UP 主设为私密或已隐藏），ChatBili 无法读取：请换一个视频，或等它重新公开后再试"
    )
    expect(error).not_to_contain_text("稿件不可见")
    page.context.close()


def test_signed_out_the_link_box_is_there_and_the_login_keeps_the_link(module_browser: Browser, site: Site) -> None:
    page = new_page(module_browser, site)
    page.goto(site.url + "/")
    expect(page.locator("#login-note")).to_contain_text("提交时需要登录，链接会保留。")
    submit_link(page, "BV17x411w7KC")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(site.url + "/?link=BV17x411w7KC")
    expect(page.locator("#link")).to_have_value("BV17x411w7KC")
    page.context.close()


def test_reopening_a_video_restores_the_last_conversation_with_new_chat_and_earlier_ones(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(module_video)
    expect(page.locator("#chat-log .message.user .body")).to_have_text([QUESTION])
    expect(page.locator("#chat-log .message.assistant .body")).to_have_text([ANSWER_REPLY])

    page.click("#new-conversation")
    expect(page.locator("#chat-log .message")).to_have_count(0)
    assert page.url.endswith(f"{VIDEO_PATH}?conversation=new")
    page.reload()
    expect(page.locator("#chat-log .message")).to_have_count(0)  # a new chat stays new on reload
    earlier = page.locator("#earlier-conversations")
    earlier.locator("summary").click()
    earlier.locator("a").first.click()
    expect(page.locator("#chat-log .message.user .body")).to_have_text([QUESTION])
    page.context.close()


def test_comment_drafts_write_moments_as_bilibili_does_without_brackets(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(module_video + "?conversation=new")
    wait_for_video_page(page)
    page.click("#comments-button")
    drafts = page.locator("#drafts li p")
    expect(drafts).to_have_count(3)
    # The fake model cites "[00:07]" (tests/browser/fakes.py COMMENTS_REPLY); the user gets "00:07".
    expect(drafts).to_have_text(["00:07 开头的问好好亲切", "快板配电音，绝了", "求出续集！"])
    page.context.close()


def test_dark_mode_follows_the_system_with_readable_contrast(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.emulate_media(color_scheme="dark")
    page.goto(module_video)
    wait_for_video_page(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    text = page.evaluate("getComputedStyle(document.body).color")
    assert page.evaluate(RELATIVE_LUMINANCE, background) < 0.02, background
    assert page.evaluate(RELATIVE_LUMINANCE, text) > 0.7, text
    assert [violation["id"] for violation in axe_violations(page, site)] == []
    page.context.close()


def test_slash_focuses_the_link_box_and_question_mark_opens_the_help(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(site.url + "/history/")  # no link box here: `/` does nothing
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement === document.body") is True
    page.goto(site.url + "/")
    page.keyboard.press("/")
    expect(page.locator("#link")).to_be_focused()
    page.locator("#link").blur()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="键盘快捷键")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("跳到下一个 / 上一个引用时间点")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.context.close()


def test_slash_focuses_the_chat_input_and_j_k_move_between_citations(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(module_video)
    wait_for_video_page(page)
    page.keyboard.press("/")
    expect(page.locator("#question")).to_be_focused()
    page.locator("#question").blur()
    citations = page.locator("#chat-log a.seek, #summary a.seek")
    labels = citations.all_inner_texts()
    # The summary's two moments, then the answer's: in its text and as a chip.
    assert labels == ["[00:07]", "[00:09]", "[00:07]", "[00:07]"], labels
    page.keyboard.press("j")
    expect(citations.nth(0)).to_be_focused()
    for _ in range(4):  # past the last one it stays there
        page.keyboard.press("j")
    expect(citations.nth(3)).to_be_focused()
    page.keyboard.press("k")
    expect(citations.nth(2)).to_be_focused()
    page.context.close()


def test_escape_stops_a_running_answer_and_says_so_politely(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(module_video + "?conversation=new")
    wait_for_video_page(page)
    announcer = page.locator("#chat-announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    assert page.locator("#chat-log").get_attribute("aria-live") is None  # tokens are not read one by one
    # A slow answer, so it is still running when Esc comes.
    usual_delay, site.llm.token_delay = site.llm.token_delay, 0.3
    try:
        page.fill("#question", "再讲一遍？")
        page.press("#question", "Enter")
        expect(announcer).to_have_text("ChatBili 正在回答…")
        expect(page.locator("#chat-log .message.assistant .body")).to_have_text(re.compile(r"^\S{2}"))
        page.keyboard.press("Escape")
    finally:
        site.llm.token_delay = usual_delay
    expect(announcer).to_have_text("已停止回答")
    expect(page.locator("#ask-button")).to_be_enabled()
    partial = page.locator("#chat-log .message.assistant .body").inner_text()
    assert ANSWER_REPLY.startswith(partial) and len(partial) < len(ANSWER_REPLY), partial
    page.context.close()


def test_a_finished_answer_is_announced_once_in_full(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    page = reader_page(module_browser, site, module_users)
    page.goto(module_video + "?conversation=new")
    wait_for_video_page(page)
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    expect(page.locator("#chat-announcer")).to_have_text(f"ChatBili 的回答： {ANSWER_REPLY}")
    page.context.close()


def test_the_ingest_progress_bar_has_an_accessible_name(
    module_browser: Browser, site: Site, module_users: dict[str, str]
) -> None:
    page = new_page(module_browser, site, session=module_users["newcomer"])
    page.goto(site.url + "/")
    submit_link(page, "https://www.bilibili.com/video/BV17x411w7KC?p=2")
    page.wait_for_url(re.compile(r"/videos/BV17x411w7KC/2/"))
    expect(page.get_by_role("progressbar", name="处理进度")).to_be_attached()
    page.context.close()

"""The path a user takes, in a real browser: sign up, paste a link, watch it become ready, read the
streamed summary, ask a question and seek through a citation, download the exports; and an
XSS video whose title, transcript, danmaku and LLM replies carry HTML that must never run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from chat.models import UserQuota
from tests.browser.conftest import ARTIFACTS, Site
from tests.browser.fakes import ANSWER_PAYLOAD, ANSWER_REPLY, CUE_PAYLOAD, DANMAKU_PAYLOAD, TITLE_PAYLOAD, XSS_BVID

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-pass-phrase-9"
# Every change of the progress bar, kept in sessionStorage so it survives the reload at "ready".
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("progress-bar");
  const label = document.getElementById("stage-label");
  if (!bar || !label) return;
  const record = () => {
    const seen = JSON.parse(sessionStorage.getItem("progressSeen") || "[]");
    seen.push({stage: label.textContent, width: bar.style.width, visible: !bar.closest("[hidden]")});
    sessionStorage.setItem("progressSeen", JSON.stringify(seen));
  };
  record();
  new MutationObserver(record).observe(bar, {attributes: true, attributeFilter: ["style"]});
});
"""


def sign_up(page: Page, site: Site, username: str) -> None:
    page.goto(f"{site.url}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("form.card button[type=submit]")
    expect(page.locator(".topbar .who")).to_have_text(username)


def log_in(page: Page, site: Site, username: str) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form.card button[type=submit]")
    expect(page.locator(".topbar .who")).to_have_text(username)


def log_out_and_in(page: Page, site: Site, username: str) -> None:
    page.click(".topbar button.link")
    expect(page.locator(".topbar")).to_contain_text("登录")
    log_in(page, site, username)


def paste_link(page: Page, link: str, bvid: str) -> None:
    page.fill("#link", link)
    page.click("#link-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/videos/{bvid}/1/"))


def wait_until_ready(page: Page) -> None:
    """The page reloads itself when ingestion reaches ready; then the chat is enabled."""
    expect(page.locator("#ask-button")).to_be_enabled(timeout=60_000)
    expect(page.locator("#ingest")).to_be_hidden()


def player_seconds(page: Page) -> str:
    src = page.get_attribute("#player", "src") or ""
    return parse_qs(urlsplit(src).query)["t"][0]


def wait_for_streaming(page: Page, selector: str, text_selector: str, min_length: int = 8) -> str:
    """Wait until `selector` is mid-stream with some text in `text_selector`; return that text."""
    handle = page.wait_for_function(
        """([selector, textSelector, minLength]) => {
             const element = document.querySelector(selector);
             const text = element && element.querySelector(textSelector);
             return element && element.dataset.state === "streaming" && text && text.textContent.length >= minLength
               ? text.textContent : null;
           }""",
        arg=[selector, text_selector, min_length],
        polling=20,
    )
    return handle.json_value()


def ask(page: Page, question: str) -> tuple[str, str]:
    """Ask; return the answer's text mid-stream and when done."""
    page.fill("#question", question)
    page.press("#question", "Enter")
    partial = wait_for_streaming(page, "#chat-log .message.assistant:last-child", ".body")
    answer = page.locator("#chat-log .message.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    return partial, answer.locator(".body").inner_text()


def download(page: Page, selector: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.click(selector)
    result = info.value
    return result.suggested_filename, Path(result.path()).read_text(encoding="utf-8")


def test_sign_up_paste_a_link_read_the_summary_chat_and_export(page: Page, site: Site) -> None:
    page.add_init_script(RECORD_PROGRESS)
    sign_up(page, site, "xiaoming")
    log_out_and_in(page, site, "xiaoming")

    # 1. Paste a link and watch the progress bar reach ready.
    paste_link(page, "https://www.bilibili.com/video/BV117411r7R1/?spm_id_from=333.1007", "BV117411r7R1")
    wait_until_ready(page)
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('progressSeen'))")
    shown = [entry for entry in seen if entry["visible"]]
    assert shown[0]["width"] != "100%" and shown[-1] == {"stage": "已就绪", "width": "100%", "visible": True}, seen
    assert not seen[-1]["visible"], "once ready, the reloaded page hides the bar"
    expect(page.locator("#video-title")).to_have_text("当我给拜年祭的快板加了电音配乐…")
    expect(page.locator("#transcript li")).to_have_count(2)

    # 2. The summary streams in as text, then becomes rendered Markdown with seek links.
    partial = wait_for_streaming(page, "#summary", ".stream-text")
    assert partial.startswith("## 摘要")  # streamed as text: the Markdown is not rendered yet
    expect(page.locator("#summary")).to_have_attribute("data-state", "done")
    expect(page.locator("#summary .markdown h2").first).to_have_text("摘要")
    expect(page.locator("#summary .markdown a.seek")).to_have_count(2)
    expect(page.locator("#summary")).to_contain_text("开始讲快板")

    # 3. Ask a question: tokens stream, then a citation seeks the player.
    assert player_seconds(page) == "0"
    partial, final = ask(page, "视频开头讲了什么？")
    assert final == ANSWER_REPLY
    assert ANSWER_REPLY.startswith(partial) and len(partial) < len(ANSWER_REPLY), partial
    answer = page.locator("#chat-log .message.assistant").last
    answer.locator("a.seek").first.click()
    assert player_seconds(page) == "7"
    assert parse_qs(urlsplit(page.get_attribute("#player", "src")).query)["autoplay"] == ["1"]
    # The transcript seeks too, and its search filters the cues.
    page.locator("#transcript a.seek").nth(1).click()
    assert player_seconds(page) == "9"
    page.fill("#transcript-search", "快板")
    expect(page.locator("#transcript li:visible")).to_have_count(1)
    expect(page.locator("#transcript mark")).to_have_text("快板")

    # Comment drafts with a tone, each with a copy button.
    page.select_option("#comments-tone", "幽默")
    page.click("#comments-button")
    expect(page.locator("#drafts li")).to_have_count(3)
    expect(page.locator("#drafts li").nth(1)).to_contain_text("快板配电音，绝了")
    expect(page.locator("#drafts li button.copy")).to_have_count(3)

    # 4. The exports download: Markdown (summary + transcript), SRT and JSON.
    name, markdown = download(page, "#export-markdown")
    assert name == "BV117411r7R1-p1.md"
    assert "## 总结" in markdown and "开始讲快板" in markdown and "## 字幕" in markdown and "今天讲快板" in markdown
    name, srt = download(page, "#export-srt")
    assert name == "BV117411r7R1-p1.srt"
    assert "00:00:07,940 --> 00:00:08,960\n大家好" in srt
    name, body = download(page, "#export-json")
    assert name == "BV117411r7R1-p1.json"
    assert [cue["text"] for cue in json.loads(body)["cues"]] == ["大家好", "今天讲快板"]

    page.screenshot(path=ARTIFACTS / "video-page.png", full_page=True)
    # At phone width nothing is wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#chat-log .message")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=ARTIFACTS / "video-page-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # History reopens the conversation.
    page.goto(f"{site.url}/history/")
    expect(page.locator("#history-videos li")).to_have_count(1)
    page.locator("#history-conversations a").first.click()
    expect(page.locator("#chat-log .message")).to_have_count(2)
    expect(page.locator("#chat-log .message.assistant")).to_contain_text("随后开始讲快板")


def test_hostile_title_transcript_danmaku_and_llm_html_never_run(page: Page, site: Site) -> None:
    sign_up(page, site, "xss-tester")
    paste_link(page, f"https://www.bilibili.com/video/{XSS_BVID}", XSS_BVID)
    wait_until_ready(page)
    expect(page.locator("#summary")).to_have_attribute("data-state", "done")
    partial, final = ask(page, "这个视频里有什么？")
    assert partial.startswith("<script>") and len(partial) < len(final)  # streamed as text
    assert final.startswith(ANSWER_PAYLOAD)  # and rendered as text
    page.click("#comments-button")
    expect(page.locator("#drafts li")).to_have_count(3)
    page.goto(f"{site.url}/history/")
    page.locator("#history-conversations a").first.click()
    page.wait_for_timeout(500)  # an injected <img src=x> would have failed to load by now

    assert page.evaluate("window.__xss") is None
    page.goto(f"{site.url}/videos/{XSS_BVID}/1/")
    expect(page.locator("#summary")).to_have_attribute("data-state", "done")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    # Everything shows as the literal text it is.
    expect(page.locator("#video-title")).to_have_text(f"XSS 测试 {TITLE_PAYLOAD}")
    expect(page.locator(".video-head")).to_contain_text(f"UP {TITLE_PAYLOAD}")
    expect(page.locator("#transcript")).to_contain_text(CUE_PAYLOAD)
    expect(page.locator("#summary")).to_contain_text(DANMAKU_PAYLOAD)  # the 高能时刻 from the danmaku
    expect(page.locator("#summary")).to_contain_text(ANSWER_PAYLOAD)
    assert page.title().startswith(f"XSS 测试 {TITLE_PAYLOAD}")
    page.screenshot(path=ARTIFACTS / "video-page-xss.png", full_page=True)
    assert page.locator("main img, main script:not(#video-config), main b").count() == 0
    page.goto(f"{site.url}/history/")
    expect(page.locator("#history-videos")).to_contain_text(TITLE_PAYLOAD)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__xss") is None


@pytest.fixture
def impatient() -> User:
    """A user allowed one LLM request a minute (made before the browser starts: Playwright's
    sync API leaves an event loop marked running, which blocks the ORM in the test body)."""
    user = User.objects.create_user("impatient", password=PASSWORD)
    UserQuota.objects.create(user=user, requests_per_minute=1)
    return user


def test_errors_a_user_causes_show_in_the_page(impatient: User, page: Page, site: Site) -> None:
    log_in(page, site, impatient.username)
    page.fill("#link", "https://space.bilibili.com/2")
    page.click("#link-form button[type=submit]")
    expect(page.locator("#link-error")).to_have_text(
        "无法识别的哔哩哔哩视频链接：请粘贴视频页地址、b23.tv 短链接或 BV/av 号"
    )
    page.fill("#link", "BV1L9Uoa9EUx")
    page.click("#link-form button[type=submit]")
    expect(page.locator("#link-error")).to_contain_text("这个视频目前不公开")

    # One LLM request a minute: the summary takes it, so the question is refused with when to retry.
    paste_link(page, "BV117411r7R1", "BV117411r7R1")
    wait_until_ready(page)
    expect(page.locator("#summary")).to_have_attribute("data-state", "done")
    page.fill("#question", "讲了什么？")
    page.press("#question", "Enter")
    error = page.locator("#chat-log .message.assistant .error-box")
    expect(error).to_contain_text("请求过于频繁：每分钟最多 1 次")
    expect(error).to_contain_text(re.compile(r"\d+ 秒后可以重试"))
    expect(page.locator("#ask-button")).to_be_enabled()
    assert "Traceback" not in page.content()

"""Browser tests: Debian's chromium driven by Playwright against the real site.

One site per module: a daphne ASGI server and a `db_worker` in subprocesses, on the test
database, with the fake Bilibili and the fake OpenAI-compatible LLM on 127.0.0.1 (their URLs go
to the subprocesses as environment variables). The browser reaches nothing else: the
Bilibili player iframe gets a local stub page and every other outside request is aborted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, Route, sync_playwright

from chatbili_site.settings import BASE_DIR
from tests.browser.fakes import browser_bilibili, browser_llm
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LocalServer, free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
INSTALL_SCRIPT = Path(__file__).with_name("install_chromium.sh")
ARTIFACTS = BASE_DIR / "test-artifacts"
PLAYER_BASE = "https://player.bilibili.com/player.html"
# As on this machine's other headless runs: no sandbox as root, no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PLAYER_STUB = "<!doctype html><body style='margin:0;background:#111;color:#bbb;font:14px sans-serif'>player</body>"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's chromium, installed by install_chromium.sh when missing; skip only if that fails."""
    if not os.access(CHROMIUM, os.X_OK):
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=1200)
        if not os.access(CHROMIUM, os.X_OK):
            pytest.skip(f"chromium is missing at {CHROMIUM} and could not be installed: {result.stderr[-400:]}")
    return CHROMIUM


@pytest.fixture
def browser(chromium_executable: str) -> Iterator[Browser]:
    """One browser per test. Playwright's sync API leaves its event loop set as running in this
    thread, so it must stop before pytest-django flushes the database (a sync ORM call)."""
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Site:
    url: str
    bilibili: FakeBilibili
    llm: FakeOpenAI
    processes: list[subprocess.Popen] = field(default_factory=list)

    def wait_until_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert all(process.poll() is None for process in self.processes), "the site exited while starting"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("the site did not become healthy in time")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def site_environment(database: dict[str, Any], bilibili_url: str, llm_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": f"postgresql://{database['USER']}@/{database['NAME']}?host={database['HOST']}",
        "BILIBILI_API_BASE": bilibili_url,
        "BILIBILI_COMMENT_BASE": bilibili_url,
        "BILIBILI_SHORTLINK_BASE": bilibili_url,
        "BILIBILI_SESSDATA": "test-sessdata",
        "BILIBILI_RETRY_BASE_DELAY_SECONDS": "0.01",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": f"{llm_url}/v1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="module")
def site(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Site]:
    """daphne + one db_worker on the test database, with the fake Bilibili and LLM."""
    bilibili, llm = browser_bilibili(), browser_llm()
    servers = [LocalServer(bilibili.app).start(), LocalServer(llm.app).start()]
    with django_db_blocker.unblock():
        database = dict(connection.settings_dict)
    env = site_environment(database, servers[0].url, servers[1].url)
    port = free_port()
    server = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatbili_site.asgi:application"]
    worker = [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"]
    site = Site(f"http://127.0.0.1:{port}", bilibili, llm)
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "browser-site.log").open("w")
    try:
        for command in (server, worker):
            site.processes.append(subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=log))
        site.wait_until_healthy()
        yield site
    finally:
        site.stop()
        log.close()
        for local in servers:
            local.stop()
        with django_db_blocker.unblock():
            connection.close_pool()


def keep_traffic_local(site_url: str):
    """Let requests to the site through, give the player iframe a stub, abort everything else."""

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(site_url + "/"):
            route.continue_()
        elif url.startswith(PLAYER_BASE):
            route.fulfill(status=200, content_type="text/html", body=PLAYER_STUB)
        else:
            route.abort()

    return handle


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context (no cookies) in Chinese; JavaScript errors and CSP violations fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    context.route("**/*", keep_traffic_local(site.url))
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not blocked, f"the Content-Security-Policy blocked something the page needs: {blocked}"


# --- One browser for a whole module (issue 16) ----------------------------------------------------
# A module that uses `module_browser` keeps one Chromium for all its tests. Playwright's sync API
# marks its event loop as running in this thread, so while it is open the ORM cannot be used
# here: such a module seeds what it needs with `module_users` (before the browser starts), drives
# everything else through the site, and `module_database` empties the database after the browser
# has closed (its tests have no django_db mark, so nothing else flushes it).

AXE_SCRIPT = "/static/vendor/axe-core/axe.min.js"
PASSWORD = "a-long-pass-phrase-9"


@pytest.fixture(scope="module")
def module_database(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """The test database, emptied once the module (and its browser and site) is done. pytest-django
    makes it only when a collected test has a django_db mark: when only such modules run, here."""
    from django.core.management import call_command
    from django.test.utils import setup_databases, teardown_databases

    made = None
    with django_db_blocker.unblock():
        if connection.settings_dict["NAME"] != connection.settings_dict["TEST"]["NAME"]:
            made = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        connection.close_pool()  # a pool opened before the test database was made points elsewhere
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)
        connection.close()
        connection.close_pool()
        if made is not None:
            teardown_databases(made, verbosity=0)


@pytest.fixture(scope="module")
def module_users(module_database: None, django_db_blocker: Any) -> dict[str, str]:
    """Users made before the module's browser starts: username → a signed-in session id."""
    from django.contrib.auth.models import User
    from django.test import Client

    sessions = {}
    with django_db_blocker.unblock():
        for username in ("reader", "newcomer"):
            user = User.objects.create_user(username, password=PASSWORD)
            client = Client()
            client.force_login(user)
            sessions[username] = client.cookies["sessionid"].value
        connection.close()
    return sessions


@pytest.fixture(scope="module")
def module_browser(chromium_executable: str, module_users: dict[str, str], site: Site) -> Iterator[Browser]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(
    browser: Browser,
    site: Site,
    *,
    locale: str = "zh-CN",
    session: str | None = None,
    width: int = 1366,
    height: int = 900,
    mobile: bool = False,
) -> Page:
    """A page in a fresh context: its language, signed in when `session` is given, a phone when
    `mobile`. Outside traffic stays local (keep_traffic_local)."""
    options: dict[str, Any] = {"viewport": {"width": width, "height": height}, "locale": locale}
    if mobile:
        options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
    context = browser.new_context(**options)
    context.route("**/*", keep_traffic_local(site.url))
    if session:
        context.add_cookies([{"name": "sessionid", "value": session, "url": site.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


AXE_RUN = """async () => {
  const result = await axe.run(document, {
    iframes: false,
    resultTypes: ["violations"],
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
  });
  return result.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.slice(0, 5).map((node) => node.target.join(" ") + " :: " + node.failureSummary),
    }));
}"""


def axe_violations(page: Page, site: Site) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=site.url + AXE_SCRIPT)
    return page.evaluate(AXE_RUN)


VIDEO = "BV117411r7R1"
VIDEO_PATH = f"/videos/{VIDEO}/1/"
QUESTION = "视频开头讲了什么？"


def wait_for_video_page(page: Page) -> None:
    """Until the page's summary is there (rendered, not streaming) and its socket is open."""
    import re

    from playwright.sync_api import expect

    expect(page.locator("#summary")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(page.locator("#socket-state")).to_have_class(re.compile(r"\bopen\b"))


@pytest.fixture(scope="module")
def module_video(module_browser: Browser, site: Site, module_users: dict[str, str]) -> str:
    """The reader pastes VIDEO's link, the part becomes ready, its Chinese summary is made and
    QUESTION is answered; the video page's address. (An English page makes its own summary.)"""
    from playwright.sync_api import expect

    page = new_page(module_browser, site, session=module_users["reader"])
    page.goto(site.url + "/")
    page.fill("#link", VIDEO)
    page.click("#link-form button[type=submit]")
    page.wait_for_url(f"**{VIDEO_PATH}")
    expect(page.locator("#ask-button")).to_be_enabled(timeout=60_000)
    wait_for_video_page(page)
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    expect(page.locator("#chat-log .message.assistant").last).to_have_attribute("data-state", "done")
    page.context.close()
    return site.url + VIDEO_PATH

"""The admin's Bilibili QR login end to end in Chromium: the site (daphne) asks the fake passport
for a QR code, the page shows it as SVG and polls; the test plays the phone (scan, confirm, or let
the code expire) on the fake, and the page shows every state, then the stored login as valid."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import Browser, expect

from chatbili_site.settings import BASE_DIR
from tests.browser.conftest import ARTIFACTS, Site, keep_traffic_local, site_environment
from tests.browser.fakes import browser_bilibili, browser_llm
from tests.fakes.bilibili_passport import FakePassport
from tests.fakes.server import LocalServer, free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PAGE = "/admin/videos/bilibililogin/"


@pytest.fixture(scope="module")
def passport() -> FakePassport:
    return FakePassport()


@pytest.fixture(scope="module")
def login_site(django_db_setup: Any, django_db_blocker: Any, passport: FakePassport) -> Iterator[Site]:
    """daphne on the test database with the fake Bilibili, LLM and passport (no worker needed)."""
    bilibili, llm = browser_bilibili(), browser_llm()
    servers = [LocalServer(app).start() for app in (bilibili.app, llm.app, passport.app)]
    with django_db_blocker.unblock():
        database = dict(connection.settings_dict)
    env = site_environment(database, servers[0].url, servers[1].url)
    env.update({"BILIBILI_PASSPORT_BASE": servers[2].url, "BILIBILI_SESSDATA": ""})
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatbili_site.asgi:application"]
    site = Site(f"http://127.0.0.1:{port}", bilibili, llm)
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "browser-login-site.log").open("w")
    try:
        site.processes.append(subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=log))
        site.wait_until_healthy()
        yield site
    finally:
        site.stop()
        log.close()
        for server in servers:
            server.stop()
        with django_db_blocker.unblock():
            connection.close_pool()


@pytest.fixture
def admin_session(login_site: Site) -> str:
    """A superuser's session id (made before the browser starts: the ORM cannot run beside it)."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("root", password=None))
    return client.cookies["sessionid"].value


def test_qr_login_shows_every_state_and_ends_logged_in(
    admin_session: str, login_site: Site, passport: FakePassport, browser: Browser
) -> None:
    context = browser.new_context(locale="en-US")
    context.route("**/*", keep_traffic_local(login_site.url))
    context.add_cookies([{"name": "sessionid", "value": admin_session, "url": login_site.url}])
    context.add_cookies([{"name": "django_language", "value": "en", "url": login_site.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(login_site.url + PAGE)
    expect(page.locator("#bilibili-login-status")).to_have_attribute("data-state", "absent")
    state = page.locator("#qr-state")

    page.click("#qr-start")
    expect(page.locator("#qr-image svg.segno")).to_be_visible()
    expect(state).to_have_attribute("data-state", "waiting")
    expect(state).to_have_text("Waiting: scan the QR code with the Bilibili app")
    passport.expire(passport.latest_key)
    expect(state).to_have_attribute("data-state", "expired")
    expect(state).to_have_text("The QR code has expired: get a new one")
    expect(page.locator("#qr-image svg")).to_have_count(0)

    page.click("#qr-start")  # a new code
    expect(state).to_have_attribute("data-state", "waiting")
    key = passport.latest_key
    passport.scan(key)
    expect(state).to_have_attribute("data-state", "scanned")
    expect(state).to_have_text("Scanned: confirm the login in the Bilibili app")
    passport.confirm(key)
    expect(state).to_have_attribute("data-state", "success")
    expect(state).to_have_text("Logged in: tester")

    # The page reloads and shows the stored login, checked with nav.
    expect(page.locator("#bilibili-login-status")).to_have_attribute("data-state", "valid")
    expect(page.locator("#login-state")).to_have_text("valid")
    context.close()
    assert errors == []

"""The video page's socket when the session is gone: the server closes it with 4401, the page says
so in its language with a sign-in link, and stops reconnecting."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import Site
from tests.browser.test_video_page import paste_link, sign_up, wait_until_ready

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_expired_session_stops_the_socket_and_asks_to_sign_in_again(page: Page, site: Site) -> None:
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def through_to_the_server(socket: WebSocketRoute) -> None:
        sockets.append((socket, socket.connect_to_server()))

    page.route_web_socket(re.compile(r"/ws/videos/"), through_to_the_server)
    sign_up(page, site, "expiring")
    paste_link(page, "BV117411r7R1", "BV117411r7R1")
    wait_until_ready(page)
    expect(page.locator("#socket-notice")).to_be_hidden()
    opened = len(sockets)

    # The session expires (its cookie no longer names one), then the connection drops.
    page.context.clear_cookies(name="sessionid")
    page.context.add_cookies([{"name": "sessionid", "value": "expired", "url": site.url}])
    sockets[-1][0].close(code=1001)

    notice = page.locator("#socket-notice")
    expect(notice).to_have_text("请重新登录 登录")
    expect(notice.locator("a")).to_have_attribute("href", "/accounts/login/?next=%2Fvideos%2FBV117411r7R1%2F1%2F")
    page.wait_for_timeout(3000)  # the page would have reconnected after 1 s, then 2 s
    assert len(sockets) == opened + 1

"""The server's Bilibili login by QR (videos.bilibili_login) against the fake passport and Bilibili."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from core.errors import AppError
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_passport import MID, FakePassport
from videos import bilibili_login
from videos.bilibili import BilibiliClient
from videos.models import BilibiliLogin

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def passport(fake_server: Any) -> FakePassport:
    fake = FakePassport()
    fake_server(fake.app, "BILIBILI_PASSPORT_BASE")
    return fake


def logged_in(passport: FakePassport) -> bilibili_login.QrPoll:
    """Generate, scan, confirm: the successful poll."""
    code = async_to_sync(bilibili_login.qr_generate)()
    passport.confirm(code.key)
    return async_to_sync(bilibili_login.qr_poll)(code.key)


def test_generate_gives_the_login_url_and_key(passport: FakePassport) -> None:
    code = async_to_sync(bilibili_login.qr_generate)()
    assert len(code.key) == 32
    assert code.url == (
        f"https://account.bilibili.com/h5/account-h5/auth/scan-web?navhide=1&callback=close&qrcode_key={code.key}&from="
    )


def test_poll_goes_through_waiting_scanned_and_success(passport: FakePassport) -> None:
    code = async_to_sync(bilibili_login.qr_generate)()
    states = [async_to_sync(bilibili_login.qr_poll)(code.key).state]
    passport.scan(code.key)
    states.append(async_to_sync(bilibili_login.qr_poll)(code.key).state)
    passport.confirm(code.key)
    states.append(async_to_sync(bilibili_login.qr_poll)(code.key).state)
    assert states == ["waiting", "scanned", "success"]


def test_an_expired_code_polls_as_expired(passport: FakePassport) -> None:
    code = async_to_sync(bilibili_login.qr_generate)()
    passport.expire(code.key)
    assert async_to_sync(bilibili_login.qr_poll)(code.key) == bilibili_login.QrPoll("expired")


def test_success_carries_every_login_cookie_and_the_refresh_token(passport: FakePassport) -> None:
    poll = logged_in(passport)
    login = passport.logins[passport.latest_key]
    assert poll.cookies == {
        "SESSDATA": login.sessdata,
        "bili_jct": login.bili_jct,
        "DedeUserID": str(MID),
        "DedeUserID__ckMd5": "2b0f1e7a3c4d5e6f",
        "sid": "fake0sid",
    }
    assert poll.refresh_token == login.refresh_token


def test_a_passport_failure_is_a_clear_error(passport: FakePassport) -> None:
    passport.generate_failures = 1
    with pytest.raises(AppError) as caught:
        async_to_sync(bilibili_login.qr_generate)()
    assert (caught.value.code, caught.value.message("en")) == (
        "bilibili_login_failed",
        "The Bilibili login failed: passport generate: HTTP 500, code None",
    )


def test_the_stored_cookie_is_not_readable_in_the_database(passport: FakePassport) -> None:
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token=poll.refresh_token, nav=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM videos_bilibililogin t")
        (row,) = cursor.fetchone()
    sessdata = poll.cookies["SESSDATA"]
    for secret in (sessdata, sessdata.split("%2C")[0], poll.cookies["bili_jct"], poll.refresh_token):
        assert secret not in row
    assert bilibili_login.bilibili_login_cookies() == poll.cookies


def test_the_login_flow_never_logs_the_cookies(passport: FakePassport, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG):
        poll = logged_in(passport)
        bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token=poll.refresh_token, nav=None)
        repr(poll)
    text = caplog.text + repr(poll)
    assert poll.cookies["SESSDATA"] not in text
    assert poll.cookies["bili_jct"] not in text


def test_another_key_cannot_read_the_stored_login(passport: FakePassport, settings: Any) -> None:
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token="", nav=None)
    settings.BILIBILI_LOGIN_KEY = "a-different-key"
    assert bilibili_login.bilibili_login_cookies() == {}


def test_requests_use_the_stored_login_over_bilibili_sessdata(passport: FakePassport, bilibili: FakeBilibili) -> None:
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token="", nav=None)

    async def fetch() -> None:
        async with BilibiliClient() as client:
            await client.fetch_video_info("BV117411r7R1")

    async_to_sync(fetch)()
    cookies = bilibili.calls("/x/web-interface/view")[0].cookies
    assert (cookies["SESSDATA"], cookies["bili_jct"]) == (poll.cookies["SESSDATA"], poll.cookies["bili_jct"])


def test_without_a_stored_login_bilibili_sessdata_is_the_fallback(bilibili: FakeBilibili) -> None:
    async def fetch() -> None:
        async with BilibiliClient() as client:
            await client.fetch_video_info("BV117411r7R1")

    async_to_sync(fetch)()
    assert bilibili.calls("/x/web-interface/view")[0].cookies["SESSDATA"] == "test-sessdata"


@pytest.mark.parametrize(("sessdata", "state"), [("", "absent"), ("from-env", "fallback")])
def test_status_without_a_stored_login(settings: Any, sessdata: str, state: str) -> None:
    settings.BILIBILI_SESSDATA = sessdata
    assert async_to_sync(bilibili_login.login_status)() == {"state": state}


def test_status_of_a_valid_login_comes_from_nav(passport: FakePassport, bilibili: FakeBilibili) -> None:
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token="", nav=None)
    status = async_to_sync(bilibili_login.login_status)()
    assert (status["state"], status["uname"], status["mid"]) == ("valid", "tester", 1)
    assert [call.cookies["SESSDATA"] for call in bilibili.calls("/x/web-interface/nav")] == [poll.cookies["SESSDATA"]]


def test_an_expired_login_is_reported(passport: FakePassport, bilibili: FakeBilibili, caplog: Any) -> None:
    poll = logged_in(passport)
    nav = bilibili_login.NavAnswer(logged_in=True, mid=1, uname="tester")
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token="", nav=nav)
    bilibili.expired_sessdata.add(poll.cookies["SESSDATA"])
    status = async_to_sync(bilibili_login.login_status)(force=True)
    assert status["state"] == "expired"
    assert BilibiliLogin.objects.get().state == "expired"
    assert "The stored Bilibili login has expired" in caplog.text


def test_a_recent_check_is_not_repeated(passport: FakePassport, bilibili: FakeBilibili, settings: Any) -> None:
    settings.BILIBILI_LOGIN_CHECK_SECONDS = 600
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token="", nav=None)
    async_to_sync(bilibili_login.login_status)()
    async_to_sync(bilibili_login.login_status)()
    assert len(bilibili.calls("/x/web-interface/nav")) == 1


def test_nav_out_of_reach_makes_the_state_unknown(passport: FakePassport) -> None:
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token="", nav=None)
    assert async_to_sync(bilibili_login.login_status)(force=True)["state"] == "unknown"


def stored_with_refresh_token(passport: FakePassport) -> bilibili_login.QrPoll:
    poll = logged_in(passport)
    bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token=poll.refresh_token, nav=None)
    return poll


def test_correspond_path_is_rsa_oaep_hex() -> None:
    path = bilibili_login.correspond_path(1_700_000_000_000)
    assert len(path) == 256 and int(path, 16) > 0
    assert bilibili_login.correspond_path(1_700_000_000_000) != path  # OAEP is randomized


def test_a_login_bilibili_asks_to_refresh_is_refreshed(
    passport: FakePassport, bilibili: FakeBilibili, fake_server: Any, settings: Any
) -> None:
    settings.BILIBILI_WWW_BASE = settings.BILIBILI_PASSPORT_BASE  # the fake serves /correspond/1/ too
    old = stored_with_refresh_token(passport)
    passport.needs_refresh = True
    status = async_to_sync(bilibili_login.login_status)(force=True)
    fresh = passport.logins[passport.latest_key]
    assert (status["state"], passport.refreshes, passport.confirmed_tokens) == ("valid", 1, [old.refresh_token])
    cookies = bilibili_login.bilibili_login_cookies()
    assert (cookies["SESSDATA"], cookies["bili_jct"]) == (fresh.sessdata, fresh.bili_jct)
    assert cookies["SESSDATA"] != old.cookies["SESSDATA"]
    login = BilibiliLogin.objects.get()
    assert bilibili_login.bilibili_login_refresh_token(login) == fresh.refresh_token


def test_a_login_not_asked_to_refresh_is_kept(passport: FakePassport, bilibili: FakeBilibili, settings: Any) -> None:
    old = stored_with_refresh_token(passport)
    async_to_sync(bilibili_login.login_status)(force=True)
    assert passport.refreshes == 0
    assert bilibili_login.bilibili_login_cookies() == old.cookies


def test_a_failed_refresh_keeps_the_working_login(
    passport: FakePassport, bilibili: FakeBilibili, settings: Any, caplog: Any
) -> None:
    settings.BILIBILI_WWW_BASE = "http://127.0.0.1:9"  # the correspond page cannot be had
    old = stored_with_refresh_token(passport)
    passport.needs_refresh = True
    status = async_to_sync(bilibili_login.login_status)(force=True)
    assert (status["state"], bilibili_login.bilibili_login_cookies()) == ("valid", old.cookies)
    assert (
        "Could not refresh the stored Bilibili login: The Bilibili login failed: cookie refresh: ConnectError"
        in caplog.text
    )

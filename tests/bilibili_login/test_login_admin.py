"""The admin's Bilibili login page and /healthz's bilibili_login component."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_passport import FakePassport
from videos import bilibili_login
from videos.models import BilibiliLogin

pytestmark = pytest.mark.django_db(transaction=True)
PAGE = "/admin/videos/bilibililogin/"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=None))
    return client


@pytest.fixture
def passport(fake_server: Any) -> FakePassport:
    fake = FakePassport()
    fake_server(fake.app, "BILIBILI_PASSPORT_BASE")
    return fake


def start(client: Client) -> dict:
    response = client.post(PAGE + "qr/start/")
    assert response.status_code == 200
    return response.json()


def test_start_gives_an_svg_qr_code_of_the_login_url(admin_client: Client, passport: FakePassport) -> None:
    reply = start(admin_client)
    assert reply["key"] == passport.latest_key
    assert reply["svg"].startswith("<svg") and 'class="segno"' in reply["svg"]
    assert reply["state"] == "waiting"


def test_polling_shows_every_state_and_stores_the_login(
    admin_client: Client, passport: FakePassport, bilibili: FakeBilibili
) -> None:
    key = start(admin_client)["key"]

    def poll() -> tuple[str, str]:
        reply = admin_client.get(PAGE + "qr/poll/", {"key": key}, HTTP_ACCEPT_LANGUAGE="en").json()
        return reply["state"], reply["message"]

    seen = [poll()]
    passport.scan(key)
    seen.append(poll())
    passport.confirm(key)
    seen.append(poll())
    assert seen == [
        ("waiting", "Waiting: scan the QR code with the Bilibili app"),
        ("scanned", "Scanned: confirm the login in the Bilibili app"),
        ("success", "Logged in: tester"),
    ]
    login = BilibiliLogin.objects.get()
    assert (login.state, login.uname) == ("valid", "tester")
    assert bilibili_login.bilibili_login_cookies()["SESSDATA"] == passport.logins[key].sessdata


def test_an_expired_code_is_shown_as_expired(admin_client: Client, passport: FakePassport) -> None:
    key = start(admin_client)["key"]
    passport.expire(key)
    reply = admin_client.get(PAGE + "qr/poll/", {"key": key}, HTTP_ACCEPT_LANGUAGE="en").json()
    assert reply == {"state": "expired", "message": "The QR code has expired: get a new one"}


def test_a_key_this_session_was_not_given_is_refused(admin_client: Client, passport: FakePassport) -> None:
    response = admin_client.get(PAGE + "qr/poll/", {"key": "0" * 32})
    assert response.status_code == 400


def test_staff_without_the_permission_cannot_log_in(passport: FakePassport) -> None:
    client = Client()
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.post(PAGE + "qr/start/").status_code == 403
    assert passport.requests == []


def test_the_page_shows_an_expired_login(admin_client: Client, bilibili: FakeBilibili) -> None:
    bilibili_login.bilibili_login_store(cookies={"SESSDATA": "old-login"}, refresh_token="", nav=None)
    bilibili.expired_sessdata.add("old-login")
    page = admin_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-state="expired"' in page
    assert "expired: log in again" in page


def test_healthz_shows_an_expired_login_without_failing(client: Client, bilibili: FakeBilibili, settings: Any) -> None:
    settings.BILIBILI_LOGIN_CHECK_SECONDS = 0
    bilibili_login.bilibili_login_store(cookies={"SESSDATA": "old-login"}, refresh_token="", nav=None)
    bilibili.expired_sessdata.add("old-login")
    check = client.get("/healthz").json()["checks"]["bilibili_login"]
    assert (check["ok"], check["state"]) == (True, "expired")


def test_healthz_without_any_login_says_absent(client: Client, settings: Any) -> None:
    settings.BILIBILI_SESSDATA = ""
    assert client.get("/healthz").json()["checks"]["bilibili_login"] == {"ok": True, "state": "absent"}

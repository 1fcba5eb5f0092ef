"""The site-wide pages: home, auth, admin, API docs, /healthz and the error pages (the video pages are
tested in videos/tests/test_views.py and chat/tests/test_views.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_home_is_chinese_by_default(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.text
    assert "粘贴一个哔哩哔哩链接" in response.text


def test_home_in_english(client: Client) -> None:
    response = client.get("/", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert 'lang="en"' in response.text
    assert "Paste a Bilibili link" in response.text


def test_signup_logs_the_new_user_in(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "xiaoming", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
    )
    assert response.status_code == 302
    assert User.objects.filter(username="xiaoming").exists()
    home = client.get("/")
    assert "xiaoming" in home.text


def test_signup_with_mismatched_passwords_shows_the_form(client: Client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "xm", "password1": "a-long-pass-phrase-9", "password2": "different-9"}
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="xm").exists()
    assert "errorlist" in response.text


def test_login_and_logout(client: Client) -> None:
    User.objects.create_user("alice", password="a-long-pass-phrase-9")
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "a-long-pass-phrase-9"})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_admin_login_page(client: Client) -> None:
    assert client.get("/admin/login/").status_code == 200


def test_api_docs_are_served_locally(client: Client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets, "the docs page should load its scripts and styles"
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served locally"
        assert client.get(asset).status_code == 200 or asset.endswith(".png")
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "ChatBili API"


def test_api_version(client: Client) -> None:
    assert client.get("/api/v1/version").json() == {"name": "ChatBili", "version": "1.0.0"}


def test_healthz_reports_every_check(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "pgvector", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["pgvector"]["version"]


def test_a_missing_page_is_a_friendly_404(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "找不到这个页面" in response.text and 'href="/"' in response.text


def test_the_500_page_renders_without_a_request_context() -> None:
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "服务器出了点问题" in response.content.decode()


def test_unknown_api_addresses_get_the_api_error_body(client: Client) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/videos", "/api/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_pages_forbid_inline_scripts(client: Client) -> None:
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-src https://player.bilibili.com" in policy
    assert "<script>" not in client.get("/").text

"""The site-wide pages: home, auth, admin, API docs, /healthz and the error pages (the video pages are
tested in videos/tests/test_views.py and chat/tests/test_views.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from django.utils import translation
from django.views.defaults import server_error

from chatbili_site import urls as site_urls
from core.errors import AppError, error_kind

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
        assert client.get(asset).status_code == 200, asset
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "ChatBili API"


def test_api_version(client: Client) -> None:
    assert client.get("/api/v1/version").json() == {"name": "ChatBili", "version": "1.0.0"}


def test_healthz_reports_every_check(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "pgvector", "channel_layer", "workers", "supervisor", "bilibili_login"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["pgvector"]["version"]


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-hans", "找不到这个页面，或者你没有权限查看。"), ("en", "This page does not exist, or you may not see it.")],
)
def test_a_missing_page_is_a_friendly_404(client: Client, language: str, message: str) -> None:
    response = client.get("/no-such-page/", headers={"accept-language": language})
    assert response.status_code == 404
    assert f"<p>{message}</p>" in response.text
    assert '<a href="/">' in response.text


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("zh-hans", "服务器出了点问题，请稍后再试。"),
        ("en", "Something went wrong on the server. Please try again later."),
    ],
)
def test_the_500_page_renders_without_a_request_context(language: str, message: str) -> None:
    with translation.override(language):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert f"<p>{message}</p>" in response.content.decode()
    assert f'<html lang="{language}">' in response.content.decode()


THREE_MEGABYTES = 3 * 1024 * 1024


@pytest.mark.parametrize(
    ("language", "lang_attribute", "message"),
    [
        ("zh-hans", "zh-hans", "请求内容过大（最多 2621440 字节）"),
        ("en", "en", "Request body too large (at most 2621440 bytes)"),
    ],
)
def test_a_form_post_over_the_size_limit_is_a_413_page(language: str, lang_attribute: str, message: str) -> None:
    """The CSRF check reads the form first (as in production): the page says why, in the reader's language."""
    client = Client(enforce_csrf_checks=True, headers={"accept-language": language})
    assert client.get("/accounts/login/").status_code == 200
    form = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, "username": "alice"}
    response = client.post("/accounts/login/", {**form, "password": "x" * THREE_MEGABYTES})
    assert response.status_code == 413
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert f'lang="{lang_attribute}"' in response.text
    assert f"<h1>413</h1>\n  <p>{message}</p>" in response.text


def test_a_link_submitted_with_a_body_over_the_limit_is_a_413_page(client: Client) -> None:
    client.force_login(User.objects.create_user("alice"))
    response = client.post("/videos/", {"link": "BV117411r7R1", "padding": "x" * THREE_MEGABYTES})
    assert response.status_code == 413
    assert "<h1>413</h1>\n  <p>请求内容过大（最多 2621440 字节）</p>" in response.text


def test_a_form_with_too_many_fields_is_a_400_page_that_keeps_djangos_words_to_itself(client: Client) -> None:
    fields = {f"field{number}": "x" for number in range(1001)}  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
    response = client.post("/accounts/login/", fields, headers={"accept-language": "en"})
    assert response.status_code == 400
    assert "<h1>400</h1>\n  <p>The request is malformed and cannot be processed</p>" in response.text
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" not in response.text


UPSTREAM_DOWN = error_kind(
    "test_pages_upstream_down", "上游暂时不可用：{name}", "{name} is down for now", status=503, retryable=True
)


def raise_upstream_down(request: HttpRequest) -> HttpResponse:
    raise AppError(UPSTREAM_DOWN, retry_after=30, name="Bilibili")


urlpatterns = [path("upstream-down/", raise_upstream_down), *site_urls.urlpatterns]


@pytest.mark.urls("tests.test_pages")
@pytest.mark.parametrize(
    ("language", "message"), [("zh-hans", "上游暂时不可用：Bilibili"), ("en", "Bilibili is down for now")]
)
def test_an_app_error_a_page_does_not_catch_is_a_friendly_page(client: Client, language: str, message: str) -> None:
    response = client.get("/upstream-down/", headers={"accept-language": language})
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert f"<h1>503</h1>\n  <p>{message}</p>" in response.text
    assert "Traceback" not in response.text


def test_pages_forbid_inline_scripts(client: Client) -> None:
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-src https://player.bilibili.com" in policy
    assert "<script>" not in client.get("/").text

"""The API's one error body, `{"error": {"code", "message", "details"}}`, for every kind of failure:
an AppError (status and Retry-After from its kind), validation, authentication, ninja's refusals,
a body over the size limit, an unknown address or method, and an unexpected exception."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.utils import translation

from chatbili_site.api import api
from core.errors import AppError, error_kind
from tests.api_client import API, api_client, assert_error, auser_with_token

pytestmark = pytest.mark.django_db(transaction=True)

THREE_MEGABYTES = 3 * 1024 * 1024
UPSTREAM_DOWN = error_kind(
    "test_api_errors_upstream_down", "上游暂时不可用：{name}", "{name} is down for now", status=503, retryable=True
)


def oversized_json() -> bytes:
    return b'{"link": "' + b"x" * THREE_MEGABYTES + b'"}'


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-hans", "请求内容过大（最多 2621440 字节）"), ("en", "Request body too large (at most 2621440 bytes)")],
)
async def test_a_body_over_the_limit_is_413_in_the_requests_language(language: str, message: str) -> None:
    _, token = await auser_with_token()
    headers = {"Content-Type": "application/json", "Accept-Language": language}
    async with api_client(token) as client:
        response = await client.post(f"{API}/videos", content=oversized_json(), headers=headers)
    error = assert_error(response, 413, "request_too_large")
    assert error == {"code": "request_too_large", "message": message, "details": {"limit": 2_621_440}}
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440


async def test_a_body_just_under_the_limit_is_read() -> None:
    _, token = await auser_with_token()
    body = b'{"link": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 20) + b'"}'
    async with api_client(token) as client:
        response = await client.post(f"{API}/videos", content=body, headers={"Content-Type": "application/json"})
    [field_error] = assert_error(response, 422, "invalid_request")["details"]["errors"]
    assert (field_error["loc"][0], field_error["loc"][-1]) == ("body", "link")


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh", "需要登录或有效的 API 令牌"), ("en", "A valid API token (Authorization: Bearer) is required")],
)
async def test_no_token_is_401_with_www_authenticate(language: str, message: str) -> None:
    async with api_client(headers={"Accept-Language": language}) as client:
        response = await client.get(f"{API}/usage")
    assert assert_error(response, 401, "unauthorized") == {"code": "unauthorized", "message": message, "details": {}}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ChatBili"'


async def test_invalid_input_is_422_with_each_error() -> None:
    _, token = await auser_with_token()
    async with api_client(token, headers={"Accept-Language": "en"}) as client:
        response = await client.post(f"{API}/videos", json={"link": 17})
    error = assert_error(response, 422, "invalid_request")
    assert error["message"] == "Invalid request"
    [field_error] = error["details"]["errors"]
    assert (field_error["loc"][0], field_error["loc"][-1]) == ("body", "link")
    assert field_error["msg"] == "Input should be a valid string"


async def test_an_unparsable_body_is_400_bad_request() -> None:
    _, token = await auser_with_token()
    headers = {"Content-Type": "application/json", "Accept-Language": "en"}
    async with api_client(token) as client:
        response = await client.post(f"{API}/videos", content=b"{not json", headers=headers)
    assert assert_error(response, 400, "bad_request")["message"] == "Bad request: Cannot parse request body"


async def test_a_method_an_address_does_not_take_is_405_with_the_error_body() -> None:
    async with api_client(headers={"Accept-Language": "en"}) as client:
        response = await client.put(f"{API}/version")
    error = assert_error(response, 405, "method_not_allowed")
    assert error == {"code": "method_not_allowed", "message": "Method not allowed", "details": {"allowed": ["GET"]}}
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/videos", "/api/"])
async def test_unknown_api_addresses_are_404_with_the_error_body(path: str) -> None:
    async with api_client() as client:
        response = await client.get(path)
    assert assert_error(response, 404, "not_found")["details"] == {"path": path}


def test_an_app_error_leaves_with_its_kinds_status_and_retry_after() -> None:
    request = RequestFactory().get(f"{API}/usage")
    with translation.override("zh-hans"):
        error = AppError(UPSTREAM_DOWN, retry_after=30, details={"stage": "x"}, name="LLM")
        response = api.on_exception(request, error)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.content.decode()
    assert body == (
        '{"error": {"code": "test_api_errors_upstream_down", "message": "上游暂时不可用：LLM", '
        '"details": {"stage": "x", "retry_after": 30}}}'
    )


def test_an_unexpected_exception_is_500_internal_error_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().get(f"{API}/usage")
    with caplog.at_level(logging.ERROR, logger="chatbili_site.api"), translation.override("zh-hans"):
        response = api.on_exception(request, RuntimeError("boom"))
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert response.content.decode() == (
        '{"error": {"code": "internal_error", "message": "内部错误，请稍后重试", "details": {}}}'
    )
    assert [record.exc_info[1].args for record in caplog.records] == [("boom",)]

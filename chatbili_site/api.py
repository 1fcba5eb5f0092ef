"""The project-level NinjaAPI, mounted at /api/v1/: authentication, error mapping and the routers.

Every error, whatever raised it, leaves as one body (`ErrorOut`: code, message, details):
ApiError, VideoError, GenerationError (ChatError included), QuotaExceeded (429 + Retry-After),
ninja's validation and HTTP errors, Http404, and anything unexpected (500, logged). A client's
input can only cause a 4xx; upstream failures (Bilibili, the LLM) are 502/503.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from chat.api import router as chat_router
from chat.api_tokens import api_token_authenticate
from chat.llm import GenerationError
from chat.quotas import QuotaExceeded
from core.api import ApiError, ErrorOut
from videos.api import router as videos_router
from videos.errors import VideoError

logger = logging.getLogger(__name__)

__all__ = ["API_AUTH", "ApiError", "ErrorOut", "api"]


class Utf8JSONRenderer(JSONRenderer):
    """JSON as UTF-8 text: Chinese stays readable, and a third of the size of \\u escapes."""

    media_type = "application/json; charset=utf-8"
    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    title="ChatBili API",
    version="1.0.0",
    description=(
        "Summaries of and chat over Bilibili videos. 哔哩哔哩视频总结与对话。\n\n"
        "Authenticate with a personal token from your account page: `Authorization: Bearer cbt_…`. "
        "Errors are always `{code, message, details}`. Over your quota: 429 with `Retry-After`."
    ),
    urls_namespace="api-1",
    renderer=Utf8JSONRenderer(),
)


# --- authentication ---------------------------------------------------------------------------------


class ApiTokenAuth(HttpBearer):
    """A personal API token (`Authorization: Bearer cbt_…`); never needs CSRF."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = api_token_authenticate(token.strip())
        if user is not None:
            request.user = user
            request.auth_method = "token"
        return user


class SessionCsrfAuth(APIKeyCookie):
    """The site's own session, for its pages. A signed-in session must send the CSRF token on
    unsafe methods (403 otherwise); a cookie of no session is simply not authentication (401)."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any | None:
        user = getattr(request, "user", None)
        if not key or user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise HttpError(403, "CSRF 校验失败 / CSRF check failed")
        request.auth_method = "session"
        return user


API_AUTH = [ApiTokenAuth(), SessionCsrfAuth()]


# --- errors -----------------------------------------------------------------------------------------

# GenerationError codes that are the client's doing; any other means generation failed upstream.
GENERATION_ERROR_STATUS = {
    "conversation_not_found": 404,
    "answer_in_progress": 409,
    "part_not_ready": 409,
    "no_transcript": 409,
    "empty_question": 422,
    "bad_tone": 422,
    "bad_language": 422,
}
RETRY_LATER_SECONDS = 30


def error_response(
    request: HttpRequest, status: int, code: str, message: str, details: dict | None = None
) -> HttpResponse:
    body = {"code": code, "message": message, "details": details or {}}
    return api.create_response(request, body, status=status)


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(VideoError)
def on_video_error(request: HttpRequest, exc: VideoError) -> HttpResponse:
    if exc.permanent:
        return error_response(request, 422, exc.code, exc.message)
    response = error_response(request, 503, exc.code, exc.message)
    response["Retry-After"] = str(RETRY_LATER_SECONDS)
    return response


@api.exception_handler(GenerationError)
def on_generation_error(request: HttpRequest, exc: GenerationError) -> HttpResponse:
    return error_response(request, GENERATION_ERROR_STATUS.get(exc.code, 502), exc.code, exc.message)


@api.exception_handler(QuotaExceeded)
def on_quota_exceeded(request: HttpRequest, exc: QuotaExceeded) -> HttpResponse:
    details = {"limit": exc.limit, "retry_after": exc.retry_after_seconds}
    response = error_response(request, 429, exc.code, exc.message, details)
    response["Retry-After"] = str(exc.retry_after_seconds)
    return response


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"loc": list(error.get("loc", [])), "msg": str(error.get("msg", ""))} for error in exc.errors]
    return error_response(request, 422, "invalid_request", "请求参数无效 / Invalid request", {"errors": errors})


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = "需要登录或有效的 API 令牌 / A valid API token (Authorization: Bearer) is required"
    response = error_response(request, 401, "unauthorized", message)
    response["WWW-Authenticate"] = 'Bearer realm="ChatBili"'
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "bad_request", 403: "forbidden", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, code, str(exc))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    code = getattr(exc, "code", "not_found")
    return error_response(request, 404, code, str(exc) or "找不到 / Not found")


@api.exception_handler(Exception)
def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API request %s %s failed", request.method, request.path)
    return error_response(request, 500, "internal_error", "内部错误，请稍后重试 / Internal error, please retry")


# --- routers ----------------------------------------------------------------------------------------


class VersionOut(Schema):
    name: str
    version: str


@api.get("/version", response=VersionOut, tags=["meta"])
def version(request: HttpRequest) -> dict:
    """The API's name and version; needs no authentication."""
    return {"name": "ChatBili", "version": api.version}


api.add_router("", videos_router, auth=API_AUTH)
api.add_router("", chat_router, auth=API_AUTH)

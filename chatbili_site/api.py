"""The project-level NinjaAPI, mounted at /api/v1/: authentication, error mapping and the routers.

Every error, whatever raised it, leaves as one body, `{"error": {"code", "message", "details"}}`
(`core.api.ErrorOut`), in the request's language: an `AppError` with its kind's status (and
`Retry-After` when it has `retry_after`); ninja's validation errors (422 `invalid_request`),
missing authentication (401 `unauthorized`) and HTTP errors; Http404 (`not_found`); too big a
body (413 `request_too_large`); anything unexpected (500 `internal_error`, logged). A client's
input can only cause a 4xx; upstream failures (Bilibili, the LLM) are 502/503.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from accounts.throttle import api_token_failed, api_token_guard
from chat.api import router as chat_router
from chat.api_library import router as library_router
from chat.cached_summaries import summary_read_for
from chat.collections_entry import router as collections_router
from chat.services.api_tokens import api_token_authenticate
from chatbili_site import outage
from chatbili_site.errors import client_error, error_json_response
from core.api import ErrorOut
from core.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    UNAUTHORIZED,
    AppError,
)
from videos.api import router as videos_router

logger = logging.getLogger(__name__)

__all__ = ["API_AUTH", "ErrorOut", "api"]


class Utf8JSONRenderer(JSONRenderer):
    """JSON as UTF-8 text: Chinese stays readable, and a third of the size of \\u escapes."""

    media_type = "application/json"  # ninja adds "; charset=utf-8" (the renderer's charset)
    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    title="ChatBili API",
    version="1.0.0",
    description=(
        "Summaries of and chat over Bilibili videos. 哔哩哔哩视频总结与对话。\n\n"
        "Authenticate with a personal token from your account page: `Authorization: Bearer cbt_…`. "
        'Every error is `{"error": {"code": "…", "message": "…", "details": {…}}}`: `code` is stable, '
        "`message` is in the request's language (`Accept-Language`, zh or en). "
        "Over your quota: 429 with `Retry-After`; a body over the size limit: 413 `request_too_large`."
    ),
    urls_namespace="api-1",
    renderer=Utf8JSONRenderer(),
)


# --- authentication ---------------------------------------------------------------------------------


class ApiTokenAuth(HttpBearer):
    """A personal API token (`Authorization: Bearer cbt_…`); never needs CSRF."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        # A cached summary is read in the token check's one statement (chat.cached_summaries).
        user = api_token_authenticate(token.strip(), read=summary_read_for(request))
        if user is not None:  # a valid token is never throttled (and costs no lockout query)
            request.user = user
            request.auth_method = "token"
            return user
        api_token_guard(request)  # guessing tokens: a locked-out client gets 429 login_locked
        api_token_failed(request)  # a bad token counts as a failed sign-in
        return None


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
            raise AppError(FORBIDDEN, reason="CSRF")
        request.auth_method = "session"
        return user


API_AUTH = [ApiTokenAuth(), SessionCsrfAuth()]


# --- errors: each becomes an AppError, rendered once ------------------------------------------------

HTTP_ERROR_KINDS = {400: BAD_REQUEST, 403: FORBIDDEN, 405: METHOD_NOT_ALLOWED}


@api.exception_handler(AppError)
def on_app_error(request: HttpRequest, exc: AppError) -> HttpResponse:
    if exc.status >= 500:
        logger.warning("API request %s %s failed: %s", request.method, request.path, exc)
    return error_json_response(exc)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"loc": list(error.get("loc", [])), "msg": str(error.get("msg", ""))} for error in exc.errors]
    return error_json_response(AppError(INVALID_REQUEST, details={"errors": errors}))


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_json_response(AppError(UNAUTHORIZED))
    response["WWW-Authenticate"] = 'Bearer realm="ChatBili"'
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """ninja's own refusals: 400 (an unparsable body), 403, 405; the reason in ninja's words."""
    return error_json_response(AppError(HTTP_ERROR_KINDS.get(exc.status_code, BAD_REQUEST), reason=str(exc)))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_json_response(AppError(NOT_FOUND))


@api.exception_handler(BadRequest)
@api.exception_handler(SuspiciousOperation)
def on_unreadable_request(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413 `request_too_large`; other refusals 400
    `malformed_request`. Django's own words are logged, as its handler would."""
    logger.warning("API request %s %s refused: %s: %s", request.method, request.path, type(exc).__name__, exc)
    return error_json_response(client_error(exc))


@api.exception_handler(Exception)
def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    if outage.is_database_outage(exc):  # PostgreSQL down or restarting: 503 database_unavailable, retryable
        outage.mark_down()
        return error_json_response(outage.outage_error())
    logger.error("API request %s %s failed", request.method, request.path, exc_info=exc)
    return error_json_response(AppError(INTERNAL_ERROR))


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
api.add_router("", library_router, auth=API_AUTH)  # the library (chat.api_library)
api.add_router("", collections_router, auth=API_AUTH)

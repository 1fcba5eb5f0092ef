"""How the site renders an `AppError` outside the API's own handlers: as the API's JSON error body
for addresses under /api/, as a friendly page (in the active language, with the kind's status)
everywhere else. A client's input never becomes a 500 and no page ever shows a traceback.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.deprecation import MiddlewareMixin

from core.errors import MALFORMED_REQUEST, METHOD_NOT_ALLOWED, REQUEST_TOO_LARGE, AppError, error_kind

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# PostgreSQL is down or restarting (chatbili_site.outage); the site recovers by itself.
DATABASE_UNAVAILABLE = error_kind(
    "database_unavailable",
    "数据库暂时不可用，正在自动恢复，请 {seconds} 秒后重试",
    "The database is temporarily unavailable and recovering by itself; please retry in {seconds} s",
    status=503,
    retryable=True,
)


def error_body(exc: AppError) -> dict:
    """The one JSON error body: `{"error": {"code", "message", "details"}}`, in the active language."""
    return {"error": exc.as_dict()}


def with_retry_after(response: HttpResponse, exc: AppError) -> HttpResponse:
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def error_json_response(exc: AppError) -> HttpResponse:
    body = json.dumps(error_body(exc), ensure_ascii=False, default=str)
    return with_retry_after(HttpResponse(body, status=exc.status, content_type=JSON_CONTENT_TYPE), exc)


def error_page_response(request: HttpRequest, exc: AppError) -> HttpResponse:
    context = {"status": exc.status, "code": exc.code, "message": exc.message()}
    response = TemplateResponse(request, "error.html", context, status=exc.status)
    return with_retry_after(response.render(), exc)


def error_response(request: HttpRequest, exc: AppError) -> HttpResponse:
    """JSON under /api/, a page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return error_json_response(exc)
    return error_page_response(request, exc)


def request_too_large() -> AppError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return AppError(REQUEST_TOO_LARGE, details={"limit": limit}, limit=limit)


def client_error(exc: Exception) -> AppError:
    """The AppError of a request Django refused to read: too big (413) or malformed (400). Django's
    own words (which may name settings) go to its security log, not to the client."""
    if isinstance(exc, RequestDataTooBig):
        return request_too_large()
    return AppError(MALFORMED_REQUEST)


class AppErrorMiddleware(MiddlewareMixin):
    """Renders an AppError that a page view did not catch, with the kind's status. (A request Django
    refuses to read goes to `handler400`, `chatbili_site.views.bad_request`, with Django's logging.)
    Also gives ninja's plain-text 405 (a method an API address does not take) the JSON error body."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, AppError):
            return None
        if exception.status >= 500:
            logger.warning("%s %s failed: %s", request.method, request.path, exception)
        return error_response(request, exception)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code == 405
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            allowed = response.get("Allow", "")
            methods = sorted(method.strip() for method in allowed.split(",") if method.strip())
            response = error_json_response(AppError(METHOD_NOT_ALLOWED, details={"allowed": methods}))
            response["Allow"] = allowed
        return response

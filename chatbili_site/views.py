from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chatbili_site.errors import client_error, error_json_response, error_response
from chatbili_site.health import health_report
from core.errors import NOT_FOUND, AppError


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    report = await health_report()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)  # degraded still serves


def api_not_found(request: HttpRequest) -> HttpResponse:
    """Unknown API addresses get the API's error body, not the site's HTML 404 page."""
    return error_json_response(AppError(NOT_FOUND, details={"path": request.path}))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: a request Django refused to read. Too big a body is 413, anything else 400;
    JSON under /api/, a page elsewhere (a form POST over DATA_UPLOAD_MAX_MEMORY_SIZE lands here)."""
    return error_response(request, client_error(exception or BadRequest()))

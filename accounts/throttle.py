"""Sign-in throttling with django-axes: the lockout parameters, the lockout page, and API tokens.

Failed sign-ins are counted per client address and per username (AXES_LOCKOUT_PARAMETERS is
`lockout_parameters`): LOGIN_FAILURE_LIMIT failures lock that address, and that username, for
LOGIN_LOCKOUT_MINUTES; every failure during a lockout starts the wait again. The site's sign-in
page, the admin's and token-authenticated API calls all count (a bad API token is a failed
attempt of its client address). Lockouts are AccessAttempt rows in the admin: deleting them (or
`manage.py axes_reset`) lifts them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.errors import LOGIN_LOCKED
from core.errors import AppError

API_TOKEN_USERNAME = None  # a bad token names no user: only its client address is counted


def lockout_parameters(request_or_attempt: Any, credentials: dict | None = None) -> list[str]:
    """Count failures per address, and per username when one was given."""
    username = getattr(request_or_attempt, "username", None)
    if credentials:
        username = credentials.get("username")
    elif hasattr(request_or_attempt, "POST"):
        username = request_or_attempt.POST.get("username")
    return ["ip_address", "username"] if username else ["ip_address"]


def lockout_error(request: HttpRequest | None = None) -> AppError:
    """login_locked (429) with the wait in seconds and minutes."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 3600
    return AppError(LOGIN_LOCKED, retry_after=seconds, minutes=max(1, math.ceil(seconds / 60)))


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; under /api/ the API's error body, elsewhere a
    page, in the reader's language."""
    error = lockout_error(request)
    if request.path.startswith("/api/"):
        body = json.dumps({"error": error.as_dict()}, ensure_ascii=False)
        response = HttpResponse(body, status=error.status, content_type="application/json; charset=utf-8")
    else:
        context = {"message": error.message(), "retry_after": error.retry_after}
        response = TemplateResponse(request, "accounts/locked.html", context, status=error.status).render()
    response["Retry-After"] = str(error.retry_after)
    return response


def api_token_guard(request: HttpRequest) -> None:
    """After a bearer token authenticated no one: AppError login_locked when its client is locked out."""
    if AxesProxyHandler.is_locked(request, {"username": API_TOKEN_USERNAME}):
        raise lockout_error(request)


def api_token_failed(request: HttpRequest) -> None:
    """A bearer token that authenticated no one counts as a failed sign-in of its client."""
    user_login_failed.send(sender=__name__, credentials={"username": API_TOKEN_USERNAME}, request=request)

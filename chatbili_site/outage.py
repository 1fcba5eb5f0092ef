"""While PostgreSQL is down or restarting: a 503 that says so, never a 500 with a traceback.

- `DatabaseOutageMiddleware` (first in MIDDLEWARE): a request that failed because the database
  could not be reached becomes a friendly 503 page, or under /api/ the API's JSON error
  `database_unavailable` (retryable), both with `Retry-After`. Once this process has seen the
  database go away, requests answer that 503 at once instead of each waiting for the pool's
  timeout, and at most one probe a second (outside the pool) checks whether it is back; when it
  is, the pool's idle connections are checked (`ConnectionPool.check`: the broken ones are
  replaced) and requests go through again. /healthz and static files always go through.
- `WebsocketOutageGuard` (around the websocket stack): a socket whose handling failed that way
  gets a `{"type": "reconnecting", "code": "database_unavailable", "message", "retry_after"}` frame
  and is closed with 1013 (try again later); the page's script reconnects.
- the API's catch-all handler asks `is_database_outage` before answering 500.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

import psycopg
import psycopg_pool
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.signals import got_request_exception
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

from chatbili_site.errors import API_PREFIX, DATABASE_UNAVAILABLE, error_json_response
from core.errors import AppError
from core.websocket_language import socket_language

logger = logging.getLogger(__name__)

# SQLSTATEs of a server that went away or is starting/stopping (class 08: connection exception).
OUTAGE_SQLSTATES = {"57P01", "57P02", "57P03"}
PROBE_EVERY_SECONDS = 1.0
PROBE_CONNECT_TIMEOUT_SECONDS = 2
ALWAYS_THROUGH = ("/healthz", "/static/")
WEBSOCKET_TRY_AGAIN_LATER = 1013
CONNECT_KEYS = {"dbname", "host", "port", "user", "password", "sslmode", "passfile", "service"}

_state_lock = threading.Lock()
_down_since: float | None = None
_probed_at = 0.0


def is_database_outage(exc: BaseException | None) -> bool:
    """Whether the error (or what caused it) means the database cannot be reached right now."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, psycopg_pool.PoolTimeout):
            return True
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            sqlstate = getattr(exc, "sqlstate", None)
            return sqlstate is None or sqlstate.startswith("08") or sqlstate in OUTAGE_SQLSTATES
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def outage_error() -> AppError:
    retry_after = int(settings.DATABASE_RETRY_AFTER_SECONDS)
    return AppError(DATABASE_UNAVAILABLE, retry_after=retry_after, seconds=retry_after)


def mark_down() -> None:
    global _down_since
    with _state_lock:
        if _down_since is None:
            _down_since = time.monotonic()
            logger.error("the database cannot be reached; answering 503 until it is back")


def database_down() -> bool:
    """Whether this process saw the database go away and no probe has found it back yet."""
    global _down_since, _probed_at
    with _state_lock:
        if _down_since is None:
            return False
        now = time.monotonic()
        if now - _probed_at < PROBE_EVERY_SECONDS:
            return True
        _probed_at = now
    if not _probe():
        return True
    with _state_lock:
        _down_since = None
    logger.warning("the database is back; serving again")
    return False


def database_reachable() -> bool:
    """Whether a fresh connection (outside the pool, with a short timeout) to the database works."""
    try:
        params = connections["default"].get_connection_params()
        params = {key: value for key, value in params.items() if key in CONNECT_KEYS and value not in (None, "")}
        with psycopg.connect(**params, connect_timeout=PROBE_CONNECT_TIMEOUT_SECONDS) as probe:
            probe.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means not reachable
        return False
    return True


def _probe() -> bool:
    """When the database is reachable again, the pool drops its broken connections."""
    if not database_reachable():
        return False
    pool = connections["default"].pool
    if pool is not None:
        try:
            pool.check()
        except Exception:
            logger.warning("checking the connection pool after the outage failed", exc_info=True)
    return True


def _flag_request(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """got_request_exception: remember that this request failed on the database."""
    if request is not None and is_database_outage(sys.exc_info()[1]):
        request.database_outage = True
        mark_down()


got_request_exception.connect(_flag_request, dispatch_uid="chatbili_site.outage")


def outage_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the API's JSON error under /api/, a page (no database needed) elsewhere."""
    language = translation.get_language_from_request(request)
    with translation.override(language):
        error = outage_error()
        if request.path.startswith(API_PREFIX):
            return error_json_response(error)
        body = render_to_string("503_database.html", {"message": error.message(), "retry_after": error.retry_after})
    response = HttpResponse(body, status=error.status)
    response["Retry-After"] = str(error.retry_after)
    return response


class DatabaseOutageMiddleware:
    """See the module docstring. Sync and async, so it adds no thread hop under daphne."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        if not request.path.startswith(ALWAYS_THROUGH) and database_down():
            return outage_response(request)
        return self.finish(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(ALWAYS_THROUGH) and _down_since is not None:
            if await sync_to_async(database_down, thread_sensitive=False)():
                return outage_response(request)
        return self.finish(request, await self.get_response(request))

    @staticmethod
    def finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code >= 500 and getattr(request, "database_outage", False):
            return outage_response(request)
        return response


class WebsocketOutageGuard:
    """ASGI wrapper of the websocket stack (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        accepted = closed = False

        async def tracking_send(message: dict) -> None:
            nonlocal accepted, closed
            kind = message["type"]
            if kind != "websocket.send":  # a token frame changes neither flag: one comparison for it
                accepted = accepted or kind == "websocket.accept"
                closed = closed or kind == "websocket.close"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not is_database_outage(exc) or closed:
                raise
            mark_down()
            await self.send_reconnecting(scope, send, accepted=accepted)

    @staticmethod
    async def send_reconnecting(scope: dict, send: Any, *, accepted: bool) -> None:
        error = outage_error()
        rendered = error.as_dict(socket_language(scope))
        frame = {
            "type": "reconnecting",
            "code": rendered["code"],
            "message": rendered["message"],
            **rendered["details"],
        }
        if not accepted:
            await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(frame, ensure_ascii=False)})
        await send({"type": "websocket.close", "code": WEBSOCKET_TRY_AGAIN_LATER})

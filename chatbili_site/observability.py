"""Request ids and metrics for HTTP requests and websockets (core.metrics, core.logging_context).

`RequestObservabilityMiddleware` (first in MIDDLEWARE): every request gets an id (a valid
`X-Request-ID` from the proxy, else a new one) that its log lines carry and its response
returns in `X-Request-ID` (Django's "Not Found: /x" line for a 4xx/5xx is logged here, inside the
request, rather than by the handler after it); its count and time to the response's headers are recorded under the
view's name (`unmatched` for addresses no view takes, so a scan cannot make new labels).

`WebsocketObservability` wraps the websocket application in asgi.py: each socket gets an id for
its log lines (its consumer's tasks inherit it) and its opening, closing, duration and frames by
type are counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.log import log_response

from core import metrics
from core.logging_context import CURRENT_ID, id_bound, id_from_header, new_id

REQUEST_ID_HEADER = "X-Request-ID"
# Frame types counted by name; anything else a client sends is counted as "other".
KNOWN_FRAME_TYPES = frozenset(
    {"ask", "summary", "regenerate", "comments", "cancel", "progress", "start", "token", "citations", "done"}
    | {"error", "cancelled", "reconnecting"}
)


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name or "unnamed") if match is not None else "unmatched"


class RequestObservabilityMiddleware:
    """Sets the request id and records the request's metrics (sync and async)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        with id_bound(id_from_header(request.headers.get(REQUEST_ID_HEADER))):
            started = time.monotonic()
            response = self.get_response(request)
            return self._finish(request, response, started)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        with id_bound(id_from_header(request.headers.get(REQUEST_ID_HEADER))):
            started = time.monotonic()
            response = await self.get_response(request)
            return self._finish(request, response, started)

    def _finish(self, request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        response[REQUEST_ID_HEADER] = CURRENT_ID.get()
        if response.streaming:  # an SSE body is produced after this returns: it keeps the id too
            response.streaming_content = _id_bound_content(response, CURRENT_ID.get())
        if response.status_code >= 400:  # Django's own "Not Found: /x" line, logged here with the id
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        metrics.http_request_observe(
            method=request.method or "",
            view=view_label(request),
            status=response.status_code,
            seconds=time.monotonic() - started,
        )
        return response


def _id_bound_content(response: Any, request_id: str) -> Any:
    """The streamed body, each chunk produced with the request's id current (its log lines, the tasks it
    starts). Set, not reset: the body is read in the server's task (or thread) for this response alone."""
    content = response.streaming_content
    if response.is_async:

        async def bound_async() -> Any:
            iterator = aiter(content)
            try:
                while True:
                    CURRENT_ID.set(request_id)
                    try:
                        chunk = await anext(iterator)
                    except StopAsyncIteration:
                        return
                    yield chunk
            finally:  # a client that went away closes the body: close the stream under it at once
                if hasattr(iterator, "aclose"):
                    await iterator.aclose()

        return bound_async()

    def bound() -> Any:
        iterator = iter(content)
        try:
            while True:
                CURRENT_ID.set(request_id)
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
                yield chunk
        finally:
            if hasattr(iterator, "close"):
                iterator.close()

    return bound()


def _frame_type(text: str | None) -> str:
    if not text:
        return "binary"
    if text.startswith('{"type":"token"'):
        return "token"  # the consumer's pre-encoded token frames: no need to parse them
    try:
        frame = json.loads(text)
    except ValueError:
        return "invalid"
    kind = frame.get("type") if isinstance(frame, dict) else None
    return kind if kind in KNOWN_FRAME_TYPES else "other"


class WebsocketObservability:
    """ASGI middleware for websockets: an id per socket, counts, duration and frames."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        route = "library" if scope.get("path", "").startswith(("/ws/library/", "/ws/collections/")) else "video"
        opened_at: float | None = None

        async def counted_receive() -> dict:
            message = await receive()
            if message["type"] == "websocket.receive":
                metrics.websocket_frame("in", _frame_type(message.get("text")))
            return message

        async def counted_send(message: dict) -> None:
            nonlocal opened_at
            kind = message["type"]
            if kind == "websocket.send":  # the frequent one (a token frame) first
                metrics.websocket_frame("out", _frame_type(message.get("text")))
            elif kind == "websocket.accept" and opened_at is None:
                opened_at = time.monotonic()
                metrics.websocket_opened(route)
            await send(message)

        with id_bound(new_id("ws-")):
            try:
                await self.app(scope, counted_receive, counted_send)
            finally:
                if opened_at is not None:
                    metrics.websocket_closed(route, time.monotonic() - opened_at)

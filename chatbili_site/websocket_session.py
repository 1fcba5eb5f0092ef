"""channels' AuthMiddlewareStack for the websocket routes, without the session's per-frame send wrapper (issue 12).

channels' `SessionMiddleware` passes its app `InstanceSessionWrapper.send`, which on every message reads the
session's `modified` and `is_empty()` through a LazyObject to decide whether to save the session and set its
cookie, and does so only for "http.response.start". A websocket never sends that message, so for a websocket
scope the wrapper can only cost time (a few µs per token frame): `WebsocketSessionMiddleware` resolves the
session exactly as channels does and hands the app the server's own `send`. Other scopes keep the wrapper.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class WebsocketSessionMiddleware(SessionMiddleware):
    """channels' SessionMiddleware; a websocket's messages skip the send wrapper that only acts on HTTP."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send if scope["type"] == "websocket" else wrapper.send)


def websocket_auth_stack(inner: Any) -> CookieMiddleware:
    """`channels.auth.AuthMiddlewareStack(inner)` with `WebsocketSessionMiddleware`."""
    return CookieMiddleware(WebsocketSessionMiddleware(AuthMiddleware(inner)))

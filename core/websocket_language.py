"""The language of a websocket: its scope's language cookie, else Accept-Language, else Chinese;
and `SocketInItsOwnLanguage`, the way every socket runs in it (with its database calls on one of
the process's few database threads: core.database_lanes).

Used by every socket (chat.consumers, videos.consumers_collections) and by the outage middleware
(chatbili_site.outage) to render their error frames in the page's language.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from core.database_lanes import in_own_lane
from core.errors import language_of


def socket_language(scope: dict) -> str:
    """ "zh" or "en": the page's language cookie, else the browser's Accept-Language, else zh."""
    cookie = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
    if cookie:
        return language_of(cookie)
    header = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
    for code, _quality in parse_accept_lang_header(header):
        if code.startswith(("zh", "en")):
            return language_of(code)
    return "zh"


DJANGO_LANGUAGE = {"zh": "zh-hans", "en": "en"}


CLOSE_SIGNED_OUT = 4401  # the close code of a socket opened by nobody signed in (or an expired session)


class SocketInItsOwnLanguage:
    """A websocket consumer mixin: the socket's database calls run on one of a few shared threads
    (core.database_lanes) and it renders everything in its own language; its connection goes back
    to the pool when it ends. `accept_signed_in` is every socket's first step. Put it before the
    channels consumer class."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        with translation.override(DJANGO_LANGUAGE[socket_language(scope)]):
            await in_own_lane(super().__call__(scope, receive, send))  # type: ignore[misc]

    async def accept_signed_in(self) -> Any:
        """Accept, then close with 4401 unless someone is signed in: the user, or None when closed.
        Accepting comes first: a close code sent before accepting never reaches the browser."""
        await self.accept()  # type: ignore[attr-defined]
        user = self.scope.get("user")  # type: ignore[attr-defined]
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT, reason="not signed in")  # type: ignore[attr-defined]
            return None
        return user

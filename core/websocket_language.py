"""The language of a websocket: its scope's language cookie, else Accept-Language, else Chinese;
and `SocketInItsOwnLanguage`, the way every socket runs in it (with its database calls on one of
the process's few database threads: `database_lane`).

Used by every socket (chat.consumers, videos.consumers_collections) and by the outage middleware
(chatbili_site.outage) to render their error frames in the page's language.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from channels.db import aclose_old_connections
from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

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


_lanes: list[ThreadPoolExecutor] = []
_lane_turns = itertools.count()


def database_lane() -> ThreadPoolExecutor:
    """One of SOCKET_DATABASE_THREADS one-thread executors, in turn: a socket's database calls run
    on one thread, one at a time, as Django needs. A thread per socket made 200 threads contend
    for the GIL at once, starving the event loop (issue 12); a few shared ones keep it fed."""
    if not _lanes:
        _lanes.extend(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"socket-db-{number}")
            for number in range(settings.SOCKET_DATABASE_THREADS)
        )
    return _lanes[next(_lane_turns) % len(_lanes)]


class SocketInItsOwnLanguage:
    """A websocket consumer mixin: the socket's database calls run on one of a few shared threads
    (`database_lane`) and it renders everything in its own language; its connection goes back to
    the pool when it ends. Put it before the channels consumer class."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async with ThreadSensitiveContext(executor=database_lane()):
            with translation.override(DJANGO_LANGUAGE[socket_language(scope)]):
                try:
                    await super().__call__(scope, receive, send)  # type: ignore[misc]
                finally:
                    await aclose_old_connections()

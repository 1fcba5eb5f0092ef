"""The language of a websocket: its scope's language cookie, else Accept-Language, else Chinese.

Used by every socket (chat.consumers, videos.consumers_collections) and by the outage middleware
(chatbili_site.outage) to render their error frames in the page's language.
"""

from __future__ import annotations

from django.conf import settings
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

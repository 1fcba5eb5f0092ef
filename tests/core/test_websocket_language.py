"""core.websocket_language: the language a socket's frames are rendered in."""

from __future__ import annotations

import pytest
from django.conf import settings

import chat.consumers
import videos.consumers_collections
from core.websocket_language import SocketInItsOwnLanguage, socket_language


def header_scope(accept_language: bytes) -> dict:
    return {"headers": [(b"accept-language", accept_language)]}


def test_the_language_cookie_wins_over_the_header():
    scope = {"cookies": {settings.LANGUAGE_COOKIE_NAME: "en"}, **header_scope(b"zh-CN")}
    assert socket_language(scope) == "en"


def test_a_chinese_cookie_wins_over_an_english_header():
    scope = {"cookies": {settings.LANGUAGE_COOKIE_NAME: "zh-hans"}, **header_scope(b"en-US")}
    assert socket_language(scope) == "zh"


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [(b"en-US,en;q=0.9", "en"), (b"fr-FR,en;q=0.8,zh;q=0.5", "en"), (b"fr-FR,zh-CN;q=0.8", "zh"), (b"fr-FR", "zh")],
)
def test_the_first_chinese_or_english_header_language(accept_language, expected):
    assert socket_language(header_scope(accept_language)) == expected


def test_chinese_without_cookie_or_header():
    assert socket_language({}) == "zh"


@pytest.mark.parametrize(
    "consumer", [chat.consumers.VideoPartConsumer, videos.consumers_collections.CollectionProgressConsumer]
)
def test_the_sockets_share_the_one_implementation(consumer):
    assert consumer.__call__ is SocketInItsOwnLanguage.__call__

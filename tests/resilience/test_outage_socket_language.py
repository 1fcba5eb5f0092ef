"""The outage guard's `reconnecting` frame is in the socket's language (core.websocket_language)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import override_settings

from chatbili_site.outage import WEBSOCKET_TRY_AGAIN_LATER, WebsocketOutageGuard

EN = "The database is temporarily unavailable and recovering by itself; please retry in 7 s"
ZH = "数据库暂时不可用，正在自动恢复，请 7 秒后重试"


async def reconnecting_messages(scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await WebsocketOutageGuard.send_reconnecting(scope, send, accepted=False)
    return sent


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"cookies": {settings.LANGUAGE_COOKIE_NAME: "en"}}, EN),
        ({"headers": [(b"accept-language", b"en-US,en;q=0.9")]}, EN),
        ({}, ZH),
    ],
)
@override_settings(DATABASE_RETRY_AFTER_SECONDS=7)
async def test_the_reconnecting_frame_is_in_the_socket_s_language(scope: dict, message: str) -> None:
    accept, frame, close = await reconnecting_messages(scope)
    assert (accept, close) == (
        {"type": "websocket.accept"},
        {"type": "websocket.close", "code": WEBSOCKET_TRY_AGAIN_LATER},
    )
    body = json.loads(frame["text"])
    assert (body["type"], body["code"], body["retry_after"]) == ("reconnecting", "database_unavailable", 7)
    assert body["message"] == message

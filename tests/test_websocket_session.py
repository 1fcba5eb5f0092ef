"""chatbili_site.websocket_session: channels' session and user for sockets, without the per-frame send wrapper."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from chatbili_site.websocket_session import WebsocketSessionMiddleware, websocket_auth_stack


class Recorder:
    """An ASGI app that keeps the scope and the send it was given, and sends `messages`."""

    def __init__(self, *messages: dict, modify_session: bool = False) -> None:
        self.messages = messages
        self.modify_session = modify_session
        self.scope: dict = {}
        self.send = None

    async def __call__(self, scope: dict, receive, send) -> None:
        self.scope, self.send = scope, send
        if self.modify_session:
            scope["session"]["seen"] = True
        for message in self.messages:
            await send(message)


async def server_send(message: dict) -> None:
    sent.append(message)


sent: list[dict] = []


async def nothing_received() -> dict:
    return {"type": "websocket.connect"}


def cookie_header(session_key: str) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"sessionid={session_key}".encode())]


async def test_a_socket_gets_the_servers_own_send() -> None:
    app = Recorder()

    await websocket_auth_stack(app)({"type": "websocket", "headers": []}, nothing_received, server_send)

    assert app.send is server_send


@pytest.mark.django_db(transaction=True)
def test_a_socket_gets_its_signed_in_user() -> None:
    user = User.objects.create_user("alice", password="a-long-pass-phrase-9")
    client = Client()
    client.force_login(user)
    app = Recorder()
    scope = {"type": "websocket", "headers": cookie_header(client.cookies["sessionid"].value)}

    async_to_sync(websocket_auth_stack(app))(scope, nothing_received, server_send)

    assert app.scope["user"].pk == user.pk


@pytest.mark.django_db(transaction=True)
async def test_http_keeps_the_session_save_and_its_cookie() -> None:
    sent.clear()
    app = Recorder({"type": "http.response.start", "status": 200, "headers": []}, modify_session=True)

    await WebsocketSessionMiddleware(app)({"type": "http", "headers": [], "cookies": {}}, nothing_received, server_send)

    assert app.send is not server_send
    set_cookie = [value for name, value in sent[0]["headers"] if name == b"Set-Cookie"]
    assert len(set_cookie) == 1 and set_cookie[0].startswith(b"sessionid=")

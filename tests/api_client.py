"""Helpers for API tests: a user with a token, an httpx client on the ASGI app, the error shape."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chat.services.api_tokens import api_token_create
from chatbili_site.asgi import application
from chatbili_site.settings import BASE_DIR
from tests.fakes.server import database_url_of_test_db, free_port

API = "/api/v1"


def user_with_token(username: str = "alice") -> tuple[User, str]:
    user = User.objects.create_user(username)  # no password: hashing one costs ~0.3 s
    _, raw = api_token_create(user=user, name=f"{username}'s script")
    return user, raw


auser_with_token = sync_to_async(user_with_token)


def api_client(token: str | None = None, *, headers: dict | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client that calls the whole ASGI app (middleware included) in-process."""
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://testserver",
        headers=headers,
        timeout=30,
        **kwargs,
    )


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """The one error body, `{"error": {"code", "message", "details"}}`, with this status and this
    code; returns the inner error (`code`, `message`, `details`)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json; charset=utf-8", response.headers["content-type"]
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["details"], dict), error
    return error


async def sse_request(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, list]:
    """Read a response with httpx-sse: the response, and its events (name, JSON data) if it streamed."""
    from httpx_sse import aconnect_sse

    async with aconnect_sse(client, method, url, **kwargs) as source:
        if not source.response.headers.get("content-type", "").startswith("text/event-stream"):
            await source.response.aread()
            return source.response, []
        events = [(event.event, event.json()) async for event in source.aiter_sse()]
    return source.response, events


CSRF_SECRET = "a" * 32


def session_cookies(user: User) -> dict[str, str]:
    """Cookies of a signed-in browser session, with a CSRF cookie whose token is CSRF_SECRET."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_SECRET}


asession_cookies = sync_to_async(session_cookies)


@contextmanager
def daphne_server(**env: str) -> Iterator[str]:
    """A real daphne process on the test database (commit first: transaction=True); yields its URL.

    `env` overrides settings in the server process, e.g. BILIBILI_API_BASE of a fake server.
    """
    from django.db import connection

    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": database_url_of_test_db(),
        "LOG_LEVEL": "ERROR",
        **env,
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatbili_site.asgi:application"]
    server = subprocess.Popen(command, cwd=BASE_DIR, env=environment, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        connection.close_pool()

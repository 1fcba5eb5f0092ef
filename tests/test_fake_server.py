"""The fake-server fixture runs any ASGI app locally and points a setting at it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def nav(request: Request) -> JSONResponse:
    return JSONResponse({"code": 0, "data": {"query": dict(request.query_params)}})


app = Starlette(routes=[Route("/x/web-interface/nav", nav)])


def test_fake_server_points_the_setting_at_itself(fake_server: Any) -> None:
    server = fake_server(app, "BILIBILI_API_BASE", OPENAI_BASE_URL="/v1")
    assert settings.BILIBILI_API_BASE == server.url
    assert settings.BILIBILI_API_BASE.startswith("http://127.0.0.1:")
    assert settings.OPENAI_BASE_URL == f"{server.url}/v1"
    reply = httpx.get(f"{settings.BILIBILI_API_BASE}/x/web-interface/nav", params={"a": "1"})
    assert reply.json() == {"code": 0, "data": {"query": {"a": "1"}}}


def test_outside_hosts_default_to_a_closed_local_port() -> None:
    for name in ("BILIBILI_API_BASE", "BILIBILI_COMMENT_BASE", "BILIBILI_SHORTLINK_BASE", "BCUT_API_BASE"):
        assert getattr(settings, name).startswith("http://127.0.0.1:")
    assert settings.OPENAI_API_KEY == ""


@pytest.mark.django_db(transaction=True)
async def test_async_orm_writes_are_isolated_and_cleaned_up() -> None:
    await User.objects.acreate(username="async-user")
    assert await User.objects.filter(username="async-user").aexists()
    assert await sync_to_async(User.objects.count)() == 1

"""Fixtures for every test: local fake servers and async database hygiene."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from tests.fakes.server import LocalServer


@pytest.fixture
def fake_server(settings: Any) -> Iterator[Callable[..., LocalServer]]:
    """Start an ASGI app on 127.0.0.1 and point settings at it.

    `fake_server(app, "BILIBILI_API_BASE")` sets that setting to the server's URL;
    `fake_server(app, OPENAI_BASE_URL="/v1")` appends a path to it.
    """
    servers: list[LocalServer] = []

    def start(app: Any, *setting_names: str, **settings_with_path: str) -> LocalServer:
        server = LocalServer(app).start()
        servers.append(server)
        for name in setting_names:
            setattr(settings, name, server.url)
        for name, path in settings_with_path.items():
            setattr(settings, name, server.url + path)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _close_async_db_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """Async ORM calls leave a connection open in asgiref's thread; close it after the test.

    Otherwise pytest-django cannot drop the test database at the end of the run.
    """
    yield
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        asyncio.run(sync_to_async(connections.close_all)())

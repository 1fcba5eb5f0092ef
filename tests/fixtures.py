"""Fixtures for every test: local fake servers and async database hygiene."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import translation

from tests.fakes.bcut import FakeBcut
from tests.fakes.bilibili import FakeBilibili, audio_streams, catalogue_videos
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LocalServer

BCUT_UTTERANCES = [
    {"transcript": "今天我们来聊一聊如何做红烧肉。", "start_time": 0, "end_time": 3200},
    {"transcript": "首先把五花肉切成小块，冷水下锅焯水。", "start_time": 3300, "end_time": 7800},
    {"transcript": "然后炒糖色，加入生抽老抽和八角。", "start_time": 8000, "end_time": 12500},
]


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is also `slow` (a real Chromium against a site in subprocesses), whether or
    not its module says so: `-m "not slow"` leaves them all out."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """pytest-django's hook before the test databases are made: close any connection pool made already.

    Django keeps one pool per alias, made with the settings of its first use, and making a test database
    does not close it. A test without database access can make one: the cursor's health check reads
    `connection.pool` before pytest-django refuses the connection (and `request_cookies` catches that
    refusal). The migrations and this process's tests then ran in the `postgres` database, until a
    TIME_ZONE change closed the pool and new connections found the test database, empty. Under xdist a
    worker starts with the largest modules, such as videos/tests/test_bilibili.py, so this happened there.
    """
    for connection in connections.all():
        connection.close_pool()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A page request leaves its language active in the thread (LocaleMiddleware never resets it):
    each test starts from the default, whichever test ran before it in this process."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _close_async_db_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """Async ORM calls leave a connection open in asgiref's thread; close it after the test.

    Otherwise pytest-django cannot drop the test database at the end of the run.
    """
    yield
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture
def bilibili(fake_server: Any, settings: Any) -> FakeBilibili:
    """The fake Bilibili with its catalogue, behind every Bilibili host setting."""
    videos = catalogue_videos()
    for video in videos:
        if video.bvid == "BV1MU411S7iJ":  # only a wrong-track AI subtitle: give it audio for ASR
            video.parts[0].audio = audio_streams(video.parts[0].cid)
    fake = FakeBilibili(videos=videos, short_links=FakeBilibili.with_catalogue().short_links)
    fake_server(fake.app, "BILIBILI_API_BASE", "BILIBILI_COMMENT_BASE", "BILIBILI_SHORTLINK_BASE")
    settings.BILIBILI_RETRY_BASE_DELAY_SECONDS = 0.01
    settings.BILIBILI_SESSDATA = "test-sessdata"
    return fake


@pytest.fixture
def bcut(fake_server: Any, settings: Any) -> FakeBcut:
    """A fake bcut that transcribes any audio into three lines about 红烧肉."""
    fake = FakeBcut(utterances=BCUT_UTTERANCES, polls_before_done=1)
    fake_server(fake.app, "BCUT_API_BASE")
    settings.ASR_BACKEND = "bcut"
    settings.BCUT_POLL_INTERVAL_SECONDS = 0.01
    settings.BCUT_DEADLINE_SECONDS = 10
    return fake


@pytest.fixture
def llm(request: pytest.FixtureRequest, fake_server: Any, settings: Any) -> FakeOpenAI:
    """The fake OpenAI-compatible API behind OPENAI_BASE_URL, with a key set (so not offline).

    It replies with the test module's `LLM_REPLY` (text or a callable of the request JSON) when
    the module defines one; tests change `llm.reply`, `llm.failures`, ... as they need.
    """
    fake = FakeOpenAI(api_key="test-key")
    if hasattr(request.module, "LLM_REPLY"):
        fake.reply = request.module.LLM_REPLY
    fake_server(fake.app, OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    settings.CHAT_MODEL = "fake-chat"
    settings.LLM_RETRY_ATTEMPTS = 3
    settings.LLM_RETRY_BASE_DELAY_SECONDS = 0.01
    return fake

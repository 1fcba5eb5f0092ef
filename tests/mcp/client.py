"""The SDK's own client over streamable HTTP, against a real daphne: sessions and tool results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from django.db import connection
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from chatbili_site.settings import BASE_DIR
from tests.fakes.server import database_url_of_test_db

TOOLS = {
    "submit_video",
    "get_progress",
    "get_summary",
    "get_transcript",
    "ask_video",
    "search_library",
    "list_library",
}


@asynccontextmanager
async def mcp_session(url: str, token: str | None, *, language: str | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP session on `url`/mcp, authenticated with `token` (None: no header)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if language:
        headers["Accept-Language"] = language
    timeout = httpx2.Timeout(30, read=120)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def data_of(result: CallToolResult) -> dict:
    """A successful result's structured content (failing with the error it carries instead)."""
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return result.structured_content


def error_of(result: CallToolResult) -> dict:
    """An error result's `{"code", "message", "details"}`, the same in its text and structured content."""
    assert result.is_error, result
    body = json.loads(_text(result))
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message", "details"}, body
    assert result.structured_content == body
    return body["error"]


def _text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


def site_env(settings: Any) -> dict[str, str]:
    """What a site or worker process needs to reach the fakes the test started."""
    return {
        "OPENAI_BASE_URL": settings.OPENAI_BASE_URL,
        "OPENAI_API_KEY": "test-key",
        "CHAT_MODEL": "fake-chat",
        "BILIBILI_API_BASE": settings.BILIBILI_API_BASE,
        "BILIBILI_COMMENT_BASE": settings.BILIBILI_COMMENT_BASE,
        "BILIBILI_SHORTLINK_BASE": settings.BILIBILI_SHORTLINK_BASE,
        "BILIBILI_SESSDATA": "test-sessdata",
        "BILIBILI_RETRY_BASE_DELAY_SECONDS": "0.01",
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """`manage.py db_worker` on the test database: runs the ingestion jobs the site queues."""
    environment = {
        **os.environ,
        **env,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": database_url_of_test_db(),
        "LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"]
    return subprocess.Popen(command, cwd=BASE_DIR, env=environment, stderr=subprocess.DEVNULL)


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)
    connection.close_pool()

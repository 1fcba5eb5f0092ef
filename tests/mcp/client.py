"""The SDK's own client over streamable HTTP, against a real daphne: sessions and tool results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from tests.site_processes import fakes_env
from tests.site_processes import start_worker as start_worker  # the MCP tests import the site helpers from here
from tests.site_processes import stop_worker as stop_worker

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


site_env = fakes_env  # what a site or worker process needs to reach the fakes the test started

"""One tool call: in the caller's language, on its own database thread, errors as the error contract.

    @mcp.tool(description=...)
    @tool_call
    async def get_progress(bvid: str, page: int = 1, ctx: Context = None) -> ProgressOut: ...

An `AppError` becomes the tool's error result: `is_error`, the text `{"error": {"code", "message",
"details"}}` (the API's body) and the same as structured content. Anything unexpected is logged
and reported as `internal_error`: a bad call never ends the session.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections
from django.utils import translation
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent

from core.errors import INTERNAL_ERROR, INVALID_REQUEST, AppError, language_of

logger = logging.getLogger(__name__)


def request_language(ctx: Context | None) -> str:
    """ "en" when the client's HTTP request asked for English (Accept-Language), else "zh"."""
    headers = _headers(ctx)
    return language_of(headers.get("accept-language") or "zh")


def site_url(ctx: Context | None) -> str:
    """The site's address as the client reached it, e.g. "http://127.0.0.1:8000" (no trailing slash)."""
    request = _request(ctx)
    base_url = getattr(request, "base_url", None)
    return str(base_url).rstrip("/") if base_url is not None else ""


def error_result(error: AppError, language: str) -> CallToolResult:
    body = {"error": error.as_dict(language)}
    text = json.dumps(body, ensure_ascii=False, default=str)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=body, is_error=True)


def tool_call(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Run a tool in the caller's language with its own database thread (closed after), turning
    errors into error results."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")
        language = request_language(ctx if isinstance(ctx, Context) else None)
        try:
            async with ThreadSensitiveContext():
                try:
                    with translation.override("en" if language == "en" else "zh-hans"):
                        return await fn(*args, **kwargs)
                finally:
                    await sync_to_async(close_old_connections)()
        except AppError as exc:
            if exc.status >= 500:
                logger.warning("MCP tool %s failed: %s", fn.__name__, exc)
            return error_result(exc, language)
        except Exception:
            logger.exception("MCP tool %s failed", fn.__name__)
            return error_result(AppError(INTERNAL_ERROR), language)

    return run


def _request(ctx: Context | None) -> Any:
    if ctx is None:
        return None
    try:
        return ctx.request_context.request
    except ValueError:
        return None


def _headers(ctx: Context | None) -> dict[str, str]:
    headers = getattr(_request(ctx), "headers", None)
    return {key.lower(): value for key, value in headers.items()} if headers is not None else {}


async def sdk_errors_as_contract(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: a tool error the SDK made itself (arguments that fail the input schema, an
    unknown tool) becomes the error contract's `invalid_request`, its text kept in `details.errors`."""
    result = await call_next(ctx)
    if getattr(ctx, "method", None) != "tools/call":
        return result
    fields = result if isinstance(result, dict) else getattr(result, "model_dump", dict)(by_alias=True)
    if not fields.get("isError") or fields.get("structuredContent") is not None:
        return result
    texts = [block.get("text", "") for block in fields.get("content") or [] if block.get("type") == "text"]
    headers = getattr(getattr(ctx, "request", None), "headers", None) or {}
    language = language_of(headers.get("accept-language") or "zh")
    return error_result(AppError(INVALID_REQUEST, details={"errors": texts}), language)

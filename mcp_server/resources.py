"""Resources of the ready parts in my library, for clients to attach:

    chatbili://videos/{bvid}/{page}/summary     the current summary as Markdown (never generated here:
                                                 no quota is spent by reading; use get_summary first)
    chatbili://videos/{bvid}/{page}/transcript  the transcript, one `[mm:ss] text` line per cue

A read that fails is the protocol's error with the message `<code>: <message>` (404s as invalid
params, as the SDK does for a missing resource).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from chat.errors import SUMMARY_NOT_FOUND
from chat.mindmap import player_url
from chat.selectors import stored_cues, summary_current
from core.errors import AppError
from mcp_server.auth import caller
from mcp_server.calls import request_language
from mcp_server.selectors import library_part_get
from videos.exports import clock
from videos.selectors import part_require_ready

SUMMARY_URI = "chatbili://videos/{bvid}/{page}/summary"
TRANSCRIPT_URI = "chatbili://videos/{bvid}/{page}/transcript"
SUMMARY_DESCRIPTION = (
    "一个已就绪分P的当前总结（Markdown，中文优先）；还没有总结时先调用 get_summary。\n"
    "The current summary of a ready part as Markdown (Chinese first); call get_summary first if none."
)
TRANSCRIPT_DESCRIPTION = (
    "一个已就绪分P的字幕，每行 `[mm:ss] 文本`。\nThe transcript of a ready part, one `[mm:ss] text` line per cue."
)


async def summary_resource(bvid: str, page: str, ctx: Context) -> str:
    return await _read(ctx, _summary_markdown, bvid=bvid, page=page)


async def transcript_resource(bvid: str, page: str, ctx: Context) -> str:
    return await _read(ctx, _transcript_text, bvid=bvid, page=page)


async def _read(ctx: Context, read: Any, *, bvid: str, page: str) -> str:
    language = request_language(ctx)
    try:
        async with ThreadSensitiveContext():
            try:
                user = await caller(ctx)
                return await sync_to_async(read)(user=user, bvid=bvid, page=int(page) if page.isdigit() else 0)
            finally:
                await sync_to_async(close_old_connections)()
    except AppError as exc:
        error = ResourceNotFoundError if exc.status == 404 else ResourceError
        raise error(f"{exc.code}: {exc.message(language)}") from None


def _summary_markdown(*, user: Any, bvid: str, page: int) -> str:
    part = library_part_get(user=user, bvid=bvid, page=page)
    part_require_ready(part)
    for language in ("zh", "en"):
        summary = summary_current(part_id=part.pk, language=language)
        if summary is not None:
            heading = f"# {part.video.title}" + (f" · {part.title}" if part.title else "")
            return f"{heading}\n\n<{player_url(bvid, page, 0)}>\n\n{summary.content}\n"
    raise AppError(SUMMARY_NOT_FOUND)


def _transcript_text(*, user: Any, bvid: str, page: int) -> str:
    part = library_part_get(user=user, bvid=bvid, page=page, with_transcript=True)
    part_require_ready(part)
    return "".join(f"[{clock(cue.start_ms)}] {cue.text}\n" for cue in stored_cues(part.transcript_cues))


RESOURCES = [
    (summary_resource, SUMMARY_URI, "summary", SUMMARY_DESCRIPTION, "text/markdown"),
    (transcript_resource, TRANSCRIPT_URI, "transcript", TRANSCRIPT_DESCRIPTION, "text/plain"),
]

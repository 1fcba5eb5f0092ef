"""The video tools: submit a link, follow its ingestion, read its summary and transcript.

Each runs as the caller (mcp_server.auth) on a part of their library (mcp_server.selectors);
`get_summary` generates through the gate (chat.gate.generation_open: readiness, quota) when the
summary is not made yet, reporting progress when the client sent a progress token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from asgiref.sync import sync_to_async
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from chat.api import stream_error
from chat.errors import INCOMPLETE
from chat.gate import GateStream, SummaryOrder, generation_open
from chat.schemas import NO_NUL, STYLE_DESCRIPTION
from chat.selectors import stored_cues
from core.errors import AppError
from mcp_server.auth import caller
from mcp_server.calls import site_url, tool_call
from mcp_server.errors import BAD_TIME_RANGE
from mcp_server.schemas import (
    ProgressOut,
    SubmitOut,
    SummaryOut,
    TranscriptOut,
    moment,
    progress_out,
)
from mcp_server.selectors import library_part_get
from videos.models import VideoPart
from videos.selectors import part_require_ready, video_parts
from videos.services import video_request_record
from videos.submission import part_ingest_enqueue, video_submit

BVID_PATTERN = r"^BV1[0-9A-Za-z]{9}$"
Bvid = Annotated[str, Field(pattern=BVID_PATTERN, description="BV 号 / the BV id, e.g. BV1xx411c7mD")]
Page = Annotated[int, Field(ge=1, le=10_000, description="分P，从 1 开始 / the part number (1-based, as ?p=N)")]
SummaryLanguage = Annotated[
    Literal["zh", "en", "auto"], Field(description="总结语言 / the summary's language: zh, en or auto")
]
TRANSCRIPT_PAGE_MAX = 500
TOKENS_PER_PROGRESS = 20  # streamed pieces between two progress notifications


# --- submit_video and get_progress ------------------------------------------------------------------

SUBMIT_DESCRIPTION = (
    "提交一个 B 站视频链接（完整链接、b23.tv 短链、BV 号或 av 号），加入我的资料库并开始处理（获取字幕、切分、"
    "建立索引）。返回视频的分P列表和所提交分P的进度；用 get_progress 跟进，ready 为 true 后即可总结和提问。\n"
    "Submit a Bilibili link (full URL, b23.tv short link, BV or av id): adds the video to my library and "
    "starts ingestion (transcript, chunks, index). Returns the video's parts and the submitted part's "
    "progress; follow it with get_progress until `ready` is true, then summarize or ask."
)


@tool_call
async def submit_video(
    link: Annotated[
        str, Field(min_length=1, max_length=2000, pattern=NO_NUL, description="B 站链接或 BV/av 号 / link or id")
    ],
    ctx: Context,
) -> SubmitOut:
    user = await caller(ctx)
    part = await video_submit(link)
    await sync_to_async(video_request_record)(user=user, part=part)
    if not part.is_ready:
        await sync_to_async(part_ingest_enqueue)(part_id=part.pk)
    return await sync_to_async(_submitted)(part_id=part.pk, base=site_url(ctx))


def _submitted(*, part_id: int, base: str) -> dict:
    part = VideoPart.objects.select_related("video").defer("transcript_cues", "danmaku").get(pk=part_id)
    video = part.video
    parts = [
        {"page": each.page, "title": each.title, "duration_seconds": each.duration_seconds}
        for each in video_parts(video=video)
    ]
    return {
        "bvid": video.bvid,
        "video_title": video.title,
        "owner_name": video.owner_name,
        "parts": parts,
        "progress": progress_out(part, base=base),
    }


PROGRESS_DESCRIPTION = (
    "查看我资料库里一个视频分P的处理进度（stage、百分比、是否 ready、失败原因）。\n"
    "The ingestion progress of a part in my library: stage, percent, whether it is ready, why it failed."
)


@tool_call
async def get_progress(bvid: Bvid, ctx: Context, page: Page = 1) -> ProgressOut:
    user = await caller(ctx)
    part = await sync_to_async(library_part_get)(user=user, bvid=bvid, page=page)
    return progress_out(part, base=site_url(ctx))


# --- get_summary ------------------------------------------------------------------------------------

SUMMARY_DESCRIPTION = (
    "获取一个已就绪分P的总结：摘要（Markdown）、要点和章节，每一条都带视频里的真实时刻和 t= 链接。"
    "尚未生成时会生成（计入配额，可能需要几十秒，会发送进度通知）；已有的总结直接返回，不计配额。\n"
    "The summary of a ready part: abstract (Markdown), key points and chapters, each at a real moment "
    "of the video with t= links. Generated if not made yet (counts against the quota, may take tens of "
    "seconds, sends progress notifications); an existing summary is returned free."
)


@tool_call
async def get_summary(
    bvid: Bvid,
    ctx: Context,
    page: Page = 1,
    language: SummaryLanguage = "zh",
    style: Annotated[
        str, Field(min_length=1, max_length=40, pattern=NO_NUL, description=f"总结风格 / style: {STYLE_DESCRIPTION}")
    ] = "standard",
) -> SummaryOut:
    user = await caller(ctx)
    await sync_to_async(library_part_get)(user=user, bvid=bvid, page=page)
    events = await generation_open(user=user, bvid=bvid, page=page, order=SummaryOrder(language, style=style))
    done = await _summary_done(events, ctx)
    return _summary_out(done, bvid=bvid, page=page, base=site_url(ctx))


async def _summary_done(events: GateStream, ctx: Context) -> dict:
    """Run the summary stream to its `done` event, reporting progress along the way."""
    step, tokens = 0, 0
    try:
        async for event in events:
            kind = event["type"]
            if kind == "done":
                return event
            if kind == "error":
                raise stream_error(event)
            message = _progress_message(event)
            tokens += kind == "token"
            if message is not None and (kind != "token" or tokens % TOKENS_PER_PROGRESS == 1):
                step += 1
                await ctx.report_progress(step, None, message)
    finally:
        await events.aclose()
    raise AppError(INCOMPLETE)


def _progress_message(event: dict) -> str | None:
    kind = event["type"]
    if kind == "start":
        return "已有总结 / cached summary" if event.get("cached") else "开始生成总结 / generating the summary"
    if kind == "progress":
        return f"阅读分段 / reading sections {event.get('done', 0)}/{event.get('total', 0)}"
    if kind == "section":
        return f"分段 / section {event.get('index', 0) + 1}: {event.get('title', '')}"
    if kind == "token":
        return "正在写总结 / writing the summary"
    if kind == "reset":
        return "重新开始 / restarted"
    return None


def _summary_out(done: dict, *, bvid: str, page: int, base: str) -> dict:
    summary = done["summary"]
    points = [
        {**moment(base=base, bvid=bvid, page=page, start_ms=int(point["start_ms"])), "text": point["text"]}
        for point in summary.get("key_points") or []
    ]
    chapters = [
        {
            **moment(base=base, bvid=bvid, page=page, start_ms=int(chapter["start_ms"])),
            "end_ms": int(chapter["end_ms"]),
            "title": chapter["title"],
            "gist": chapter.get("gist", ""),
        }
        for chapter in summary.get("chapters") or []
    ]
    return {
        "bvid": bvid,
        "page": page,
        "language": summary["language"],
        "style": summary["style"],
        "abstract": summary["content"],
        "key_points": points,
        "chapters": chapters,
        "cached": bool(done.get("cached")),
        "offline": bool(summary["offline"]),
        "model": summary["model"],
    }


# --- get_transcript ---------------------------------------------------------------------------------

TRANSCRIPT_DESCRIPTION = (
    "读取一个已就绪分P的字幕（带时间的逐行文本），可限定时间范围，分页返回（offset/limit，next_offset 为下一页）。\n"
    "The transcript of a ready part as timed lines, optionally within a time range, paged (offset/limit; "
    "`next_offset` is the next page's offset, null at the end)."
)


@tool_call
async def get_transcript(
    bvid: Bvid,
    ctx: Context,
    page: Page = 1,
    start_seconds: Annotated[float | None, Field(ge=0, description="从这一秒起 / from this second")] = None,
    end_seconds: Annotated[float | None, Field(ge=0, description="到这一秒为止 / up to this second")] = None,
    offset: Annotated[int, Field(ge=0, le=1_000_000, description="跳过的行数 / lines to skip")] = 0,
    limit: Annotated[int, Field(ge=1, le=TRANSCRIPT_PAGE_MAX, description="每页行数 / lines per page")] = 200,
) -> TranscriptOut:
    if start_seconds is not None and end_seconds is not None and start_seconds >= end_seconds:
        raise AppError(BAD_TIME_RANGE, start=start_seconds, end=end_seconds)
    user = await caller(ctx)
    part = await sync_to_async(library_part_get)(user=user, bvid=bvid, page=page, with_transcript=True)
    part_require_ready(part)
    start_ms = int((start_seconds or 0) * 1000)
    end_ms = None if end_seconds is None else int(end_seconds * 1000)
    cues = [
        cue
        for cue in stored_cues(part.transcript_cues)
        if cue.end_ms > start_ms and (end_ms is None or cue.start_ms < end_ms)
    ]
    shown = cues[offset : offset + limit]
    base = site_url(ctx)
    return {
        "bvid": bvid,
        "page": page,
        "source": part.transcript_source,
        "language": part.transcript_language,
        "total_cues": len(cues),
        "offset": offset,
        "next_offset": offset + limit if offset + limit < len(cues) else None,
        "cues": [
            {**moment(base=base, bvid=bvid, page=page, start_ms=cue.start_ms), "end_ms": cue.end_ms, "text": cue.text}
            for cue in shown
        ],
    }


READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
VIDEO_TOOLS = [
    (submit_video, SUBMIT_DESCRIPTION, ToolAnnotations(read_only_hint=False, idempotent_hint=True)),
    (get_progress, PROGRESS_DESCRIPTION, READ_ONLY),
    (get_summary, SUMMARY_DESCRIPTION, ToolAnnotations(read_only_hint=False, idempotent_hint=True)),
    (get_transcript, TRANSCRIPT_DESCRIPTION, READ_ONLY),
]

"""The tools over my library: ask (one part, a collection or the whole library), search, list.

Questions go through the gate (chat.gate: readiness, quota) like the API's chat; search and
listing are chat.library's, over the caller's own parts and collections.
"""

from __future__ import annotations

from typing import Annotated, Literal

from asgiref.sync import sync_to_async
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from chat.api import answer_collect
from chat.gate import AnswerOrder, LibraryAnswerOrder, generation_open, library_generation_open
from chat.library import alibrary_search, library_parts
from chat.schemas import MAX_ID, NO_NUL, QUESTION_MAX_CHARS
from core.errors import AppError
from mcp_server.auth import caller
from mcp_server.calls import site_url, tool_call
from mcp_server.errors import TWO_SCOPES
from mcp_server.schemas import AnswerOut, LibraryOut, SearchOut, moment
from mcp_server.selectors import library_part_get
from mcp_server.tools import READ_ONLY, Bvid, Page
from videos.models import VideoPart

CollectionId = Annotated[
    int | None, Field(ge=1, le=MAX_ID, description="合集 id（可选）/ one of my collections (optional)")
]

# --- ask_video --------------------------------------------------------------------------------------

ASK_DESCRIPTION = (
    "就一个已就绪的视频分P提问（给 bvid），或就我的一个合集（给 collection_id）或整个资料库（都不给）提问。"
    "回答只依据视频字幕，并引用视频里的具体时刻（citations 带视频和 t= 链接）。计入配额。"
    "传入上次返回的 conversation_id 可以继续追问。\n"
    "Ask a question about one ready part (give bvid), one of my collections (collection_id) or my whole "
    "library (neither). The answer is grounded in the transcripts and cites moments (citations name the "
    "video, with t= links). Counts against the quota. Pass the returned conversation_id to follow up."
)


@tool_call
async def ask_video(
    question: Annotated[
        str, Field(min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NO_NUL, description="问题 / the question")
    ],
    ctx: Context,
    bvid: Annotated[Bvid | None, Field(description="视频 BV 号 / the video's BV id")] = None,
    page: Page = 1,
    collection_id: CollectionId = None,
    conversation_id: Annotated[
        int | None, Field(ge=1, le=MAX_ID, description="继续这个对话 / continue this conversation")
    ] = None,
    language: Annotated[
        Literal["zh", "en", "auto"], Field(description="回答语言 / the answer's language (auto: the question's)")
    ] = "auto",
) -> AnswerOut:
    if bvid is not None and collection_id is not None:
        raise AppError(TWO_SCOPES)
    user = await caller(ctx)
    if bvid is not None:
        await sync_to_async(library_part_get)(user=user, bvid=bvid, page=page)
        order = AnswerOrder(question, conversation_id, language)
        events = await generation_open(user=user, bvid=bvid, page=page, order=order)
    else:
        order = LibraryAnswerOrder(question, collection_id, conversation_id, language)
        events = await library_generation_open(user=user, order=order)
    answer = await answer_collect(events)
    base = site_url(ctx)
    if bvid is not None:
        titles = await sync_to_async(_titles)(bvid=bvid, page=page)
        citations = [{**citation, "bvid": bvid, "page": page, **titles} for citation in answer["citations"]]
    else:
        citations = answer["citations"]
    return {
        "answer": answer["content"],
        "citations": [_citation(citation, base=base) for citation in citations],
        "conversation_id": answer["conversation_id"],
        "message_id": answer["message_id"],
        "offline": bool(answer["offline"]),
    }


def _titles(*, bvid: str, page: int) -> dict:
    part = VideoPart.objects.select_related("video").only("title", "video__title").get(video__bvid=bvid, page=page)
    return {"video_title": part.video.title, "part_title": part.title}


def _citation(citation: dict, *, base: str) -> dict:
    bvid, page = citation["bvid"], int(citation["page"])
    return {
        **moment(base=base, bvid=bvid, page=page, start_ms=int(citation["start_ms"])),
        "bvid": bvid,
        "page": page,
        "video_title": citation.get("video_title", ""),
        "part_title": citation.get("part_title", ""),
        "end_ms": int(citation["end_ms"]),
        "label": citation.get("label", ""),
    }


# --- search_library ---------------------------------------------------------------------------------

SEARCH_DESCRIPTION = (
    "在我的资料库（或我的一个合集）里搜索：混合检索（语义 + 关键词）所有已就绪视频的字幕，返回最相关的时刻和链接。"
    "不调用大模型，不计配额。\n"
    "Search my library (or one of my collections): hybrid (semantic + keyword) search over the "
    "transcripts of every ready video; returns the best moments with links. No LLM call, no quota."
)


@tool_call
async def search_library(
    query: Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL, description="搜索内容 / the query")],
    ctx: Context,
    collection_id: CollectionId = None,
    limit: Annotated[int, Field(ge=1, le=50, description="最多返回几条 / at most this many hits")] = 8,
) -> SearchOut:
    user = await caller(ctx)
    hits = await alibrary_search(user=user, query=query, collection_id=collection_id, limit=limit)
    base = site_url(ctx)
    return {
        "query": query,
        "hits": [
            {
                **moment(base=base, bvid=hit.bvid, page=hit.page, start_ms=hit.start_ms),
                "bvid": hit.bvid,
                "page": hit.page,
                "video_title": hit.video_title,
                "part_title": hit.part_title,
                "end_ms": hit.end_ms,
                "text": hit.text,
                "score": hit.score,
            }
            for hit in hits
        ],
    }


# --- list_library -----------------------------------------------------------------------------------

LIST_DESCRIPTION = (
    "列出我资料库里的视频分P（最新的在前），可按状态（ready / in_progress / failed）、UP 主或合集筛选，分页返回。\n"
    "List the parts in my library, newest first, optionally by status (ready / in_progress / failed), "
    "uploader or collection; paged (offset/limit)."
)


@tool_call
async def list_library(
    ctx: Context,
    status: Annotated[
        Literal["ready", "in_progress", "failed"] | None, Field(description="按状态筛选 / only this status")
    ] = None,
    uploader: Annotated[
        str | None, Field(max_length=200, pattern=NO_NUL, description="UP 主名字或 mid / uploader name or mid")
    ] = None,
    collection_id: CollectionId = None,
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Field(ge=1, le=100)] = 50,
) -> LibraryOut:
    user = await caller(ctx)
    return await sync_to_async(_library_page)(
        user=user,
        filters={"status": status, "uploader": uploader, "collection_id": collection_id},
        offset=offset,
        limit=limit,
        base=site_url(ctx),
    )


def _library_page(*, user: object, filters: dict, offset: int, limit: int, base: str) -> dict:
    parts = library_parts(user=user, **filters)
    total = parts.count()
    items = []
    for part in parts[offset : offset + limit]:
        progress = moment(base=base, bvid=part.video.bvid, page=part.page, start_ms=0)
        items.append(
            {
                "bvid": part.video.bvid,
                "page": part.page,
                "video_title": part.video.title,
                "part_title": part.title,
                "owner_name": part.video.owner_name,
                "duration_seconds": part.duration_seconds,
                "stage": part.stage,
                "progress_percent": part.progress_percent,
                "ready": part.is_ready,
                "url": progress["url"].removesuffix("?t=0"),
            }
        )
    return {
        "total": total,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < total else None,
        "items": items,
    }


WRITES = ToolAnnotations(read_only_hint=False, open_world_hint=False)
LIBRARY_TOOLS = [
    (ask_video, ASK_DESCRIPTION, WRITES),
    (search_library, SEARCH_DESCRIPTION, READ_ONLY),
    (list_library, LIST_DESCRIPTION, READ_ONLY),
]

"""The library API: my parts (filtered), search across my videos, cross-video chat over my
library or one of my collections (JSON or SSE), my cross-video conversations, and a collection's
series summary (JSON or SSE).

Everything is the caller's own: another user's collection or conversation is a 404 exactly like a
missing one (collection_not_found, conversation_not_found), and search and chat read only the
caller's parts. Generating endpoints go through the generation gate
(chat.gate.library_generation_open): library_empty / series_no_summaries 409, quota_exceeded 429.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from chat.api import StreamQuery, TokenUsageOut, answer_collect, last_event, sse_openapi, sse_response
from chat.errors import SUMMARY_NOT_FOUND
from chat.gate import LibraryAnswerOrder, SeriesSummaryOrder, library_generation_open
from chat.library import (
    alibrary_search,
    library_conversation_get_for_user,
    library_conversations_for_user,
    library_parts,
)
from chat.models import Conversation, Message, SeriesSummary
from chat.schemas import MAX_ID, NO_NUL, QUESTION_MAX_CHARS, Language
from chat.schemas_library import LibraryChatIn
from core.api import error_responses
from core.errors import AppError
from videos.api import PartOut, part_out
from videos.selectors import collection_get_for_user

router = Router(tags=["library"])


class LibraryPartsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ready", "in_progress", "failed"] | None = None
    uploader: str | None = Field(None, max_length=200, pattern=NO_NUL, description="The uploader's name or mid")
    collection_id: int | None = Field(None, ge=1, le=MAX_ID, description="Only this collection of yours")


class SearchQuery(Schema):
    q: str = Field(min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NO_NUL, description="What to look for")
    collection_id: int | None = Field(None, ge=1, le=MAX_ID, description="Only this collection of yours")
    limit: int = Field(8, ge=1, le=50)


class HitOut(Schema):
    bvid: str
    page: int
    video_title: str
    part_title: str
    start_ms: int
    end_ms: int
    text: str
    url: str = Field(description="The video page opened at this moment (?t=<seconds>)")
    score: float


class LibraryCitationOut(Schema):
    part_id: int
    bvid: str
    page: int
    video_title: str
    part_title: str
    chunk_id: int
    start_ms: int
    end_ms: int
    label: str
    url: str


class LibraryAnswerOut(Schema):
    conversation_id: int
    message_id: int
    status: str
    content: str
    citations: list[LibraryCitationOut]
    usage: TokenUsageOut
    offline: bool


class LibraryMessageOut(Schema):
    id: int
    role: str
    content: str
    status: str
    citations: list[LibraryCitationOut]
    offline: bool
    error: str
    created_at: datetime


class LibraryConversationOut(Schema):
    id: int
    scope: str = Field(description="library or collection")
    collection_id: int | None
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime


class LibraryConversationDetailOut(LibraryConversationOut):
    messages: list[LibraryMessageOut]

    @staticmethod
    def resolve_messages(conversation: Conversation) -> list[Message]:
        return list(conversation.messages.order_by("created_at", "id"))


class SeriesQuery(StreamQuery):
    language: Language = "zh"
    regenerate: bool = Field(False, description="Make it again even when a cached one exists")


class SeriesLinkOut(Schema):
    part_id: int
    bvid: str
    page: int
    video_title: str
    part_title: str
    start_ms: int
    label: str
    url: str


class SeriesOut(Schema):
    series_id: int
    status: str
    content: str
    links: list[SeriesLinkOut]
    offline: bool
    cached: bool


# --- reading ----------------------------------------------------------------------------------------


@router.get("/library/parts", response={200: list[PartOut], **error_responses(404, 422)})
def library_parts_list(request: HttpRequest, query: Query[LibraryPartsQuery]) -> list[dict]:
    """My parts (of the videos I asked for and of my collections), newest video first."""
    parts = library_parts(
        user=request.auth, status=query.status, uploader=query.uploader, collection_id=query.collection_id
    )
    return [part_out(part) for part in parts]


@router.get("/library/search", response={200: list[HitOut], **error_responses(404, 422, 502)})
async def library_search_hits(request: HttpRequest, query: Query[SearchQuery]) -> list[dict]:
    """The best moments for `q` among my ready videos (or one of my collections), best first."""
    hits = await alibrary_search(user=request.auth, query=query.q, collection_id=query.collection_id, limit=query.limit)
    return [hit.to_dict() for hit in hits]


@router.get("/library/conversations", response={200: list[LibraryConversationOut], **error_responses(422)})
def library_conversations(request: HttpRequest) -> Any:
    """My cross-video conversations (library and collections), most recent first."""
    return library_conversations_for_user(user=request.auth)


@router.get(
    "/library/conversations/{conversation_id}",
    response={200: LibraryConversationDetailOut, **error_responses(404, 422)},
)
def library_conversation_detail(request: HttpRequest, conversation_id: int) -> Conversation:
    """One of my cross-video conversations with its messages."""
    return library_conversation_get_for_user(user=request.auth, conversation_id=conversation_id)


# --- generating -------------------------------------------------------------------------------------

ANSWER_EVENTS = ["start", "token", "citations", "done", "error"]


@router.post(
    "/library/chat",
    response={200: LibraryAnswerOut, **error_responses(404, 409, 422, 429, 502)},
    openapi_extra=sse_openapi("The answer across my videos, citing each video's moments", ANSWER_EVENTS),
)
async def library_chat(request: HttpRequest, body: LibraryChatIn, query: Query[StreamQuery]) -> Any:
    """Ask a question across all my ready videos; pass `conversation_id` to continue."""
    order = LibraryAnswerOrder(body.question, None, body.conversation_id, body.language)
    events = await library_generation_open(user=request.auth, order=order)
    return await sse_response(events) if query.stream else await answer_collect(events)


@router.post(
    "/collections/{collection_id}/chat",
    response={200: LibraryAnswerOut, **error_responses(404, 409, 422, 429, 502)},
    openapi_extra=sse_openapi("The answer across the collection's videos, citing their moments", ANSWER_EVENTS),
)
async def collection_chat(
    request: HttpRequest, collection_id: int, body: LibraryChatIn, query: Query[StreamQuery]
) -> Any:
    """Ask a question across one of my collections' ready videos."""
    order = LibraryAnswerOrder(body.question, collection_id, body.conversation_id, body.language)
    events = await library_generation_open(user=request.auth, order=order)
    return await sse_response(events) if query.stream else await answer_collect(events)


@router.post(
    "/collections/{collection_id}/series-summary",
    response={200: SeriesOut, **error_responses(404, 409, 422, 429, 502)},
    openapi_extra=sse_openapi(
        "The collection's overview with links to its videos' moments", ["start", "token", "done"]
    ),
)
async def series_summary(request: HttpRequest, collection_id: int, query: Query[SeriesQuery]) -> Any:
    """The overview of one of my collections from its videos' summaries (cached; free when it is)."""
    order = SeriesSummaryOrder(collection_id, query.language, regenerate=query.regenerate)
    events = await library_generation_open(user=request.auth, order=order)
    if query.stream:
        return await sse_response(events)
    done = await last_event(events)
    row = await SeriesSummary.objects.aget(pk=done["series_id"])
    return {**{key: done[key] for key in ("series_id", "status", "links", "offline", "cached")}, "content": row.content}


@router.get("/collections/{collection_id}/series-summary", response={200: SeriesOut, **error_responses(404, 422)})
def series_summary_latest(request: HttpRequest, collection_id: int) -> dict:
    """The latest complete overview of one of my collections (404 summary_not_found when none)."""
    collection_get_for_user(user=request.auth, collection_id=collection_id)
    row = SeriesSummary.objects.filter(collection_id=collection_id, status=SeriesSummary.Status.COMPLETE).first()
    if row is None:
        raise AppError(SUMMARY_NOT_FOUND)
    fields = {"series_id": row.pk, "status": row.status, "links": row.links, "offline": row.offline, "cached": True}
    return {**fields, "content": row.content}

"""The chat API: summaries, comment drafts, chat, my conversations, my usage and my tokens.

Generating endpoints answer JSON when the work is done, or stream it with `stream=true` as
server-sent events: `event: <type>` and `data: <the event as JSON>`, the same events the
websocket sends (see chat.summaries, chat.comments, chat.conversations). Every generating
endpoint opens its stream through the generation gate (chat.gate), like the websocket and the
CLI: part_not_found 404, part_not_ready/ingest_failed 409, quota_exceeded 429 with Retry-After (a
cached summary is free). Request bodies are the schemas of chat.schemas, which the websocket
validates its frames with. Someone else's conversation or token is a 404, exactly like a missing one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from channels.db import aclose_old_connections
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate
from pydantic import ConfigDict

from chat.api_outline import ChapterOut
from chat.api_outline import router as outline_router
from chat.api_templates import router as summary_templates_router
from chat.cached_summaries import SUMMARY_URL_NAME, joined_read, summary_json, summary_made_for
from chat.errors import CONVERSATION_NOT_FOUND, INCOMPLETE, INTERNAL_ERROR, PART_NOT_READY, SESSION_REQUIRED
from chat.gate import AnswerOrder, CommentsOrder, GateStream, SummaryOrder, generation_open
from chat.models import ApiToken, Conversation, Message
from chat.quotas import usage_summary
from chat.schemas import MAX_ID, NO_NUL, STYLE_DESCRIPTION, ChatIn, CommentsIn, Language
from chat.selectors import api_tokens_for_user, conversations_for_user
from chat.services.api_tokens import api_token_create, api_token_revoke
from chat.styles import style_key
from core.api import error_responses
from core.errors import AppError, ErrorKind, kind_for_code
from videos.api import Bvid, Page, PartOut, part_out
from videos.models import VideoPart
from videos.selectors import part_get_or_404

logger = logging.getLogger(__name__)
router = Router(tags=["chat"])
router.add_router("", summary_templates_router)  # /summary-templates (chat.api_templates)
router.add_router("", outline_router)  # a part's /chapters and /mindmap (chat.api_outline)


# --- server-sent events -----------------------------------------------------------------------------


def sse_frame(event: dict) -> str:
    """One event: its `type` as the SSE event name, the whole dict as JSON data."""
    if event.get("type") == "token" and event.keys() == SSE_TOKEN_KEYS:  # the many small ones, encoded directly
        return f'event: token\ndata: {{"type": "token", "text": {json.dumps(event["text"], ensure_ascii=False)}}}\n\n'
    data = json.dumps(event, cls=DjangoJSONEncoder, ensure_ascii=False)
    return f"event: {event.get('type', 'message')}\ndata: {data}\n\n"


SSE_TOKEN_KEYS = {"type", "text"}


async def sse_frames(first: dict, events: GateStream) -> AsyncIterator[str]:
    """The events as SSE frames; a failure after the headers went out becomes an `error` event."""
    try:
        yield sse_frame(first)
        async for event in events:
            yield sse_frame(event)
    except AppError as exc:
        yield sse_frame({"type": "error", **_error_fields(exc)})
    except Exception:
        logger.exception("an SSE stream failed")
        yield sse_frame({"type": "error", **_error_fields(AppError(INTERNAL_ERROR))})
    finally:
        await events.aclose()
        await aclose_old_connections()


def _error_fields(error: AppError) -> dict:
    rendered = error.as_dict()
    return {**rendered["details"], "code": rendered["code"], "message": rendered["message"]}


async def sse_response(events: GateStream) -> StreamingHttpResponse:
    """Stream `events`. The first one is awaited here, so errors before it get their HTTP status."""
    try:
        first = await anext(events)
    except StopAsyncIteration:
        raise AppError(INCOMPLETE) from None
    response = StreamingHttpResponse(sse_frames(first, events), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def stream_error(event: dict) -> AppError:
    """A stream's `error` event as an AppError: its code and status, its message as rendered."""
    kind = kind_for_code(event["code"])
    as_sent = ErrorKind(kind.code, "{text}", "{text}", kind.status, kind.retryable)
    details = {key: value for key, value in event.items() if key not in ("type", "code", "message")}
    return AppError(as_sent, details=details, text=event["message"])


async def last_event(events: GateStream) -> dict:
    """Run a stream to its `done` event; an `error` event becomes its AppError (502 upstream)."""
    try:
        async for event in events:
            if event["type"] == "done":
                return event
            if event["type"] == "error":
                raise stream_error(event)
    finally:
        await events.aclose()
    raise AppError(INCOMPLETE)


def sse_openapi(what: str, events: list[str]) -> dict:
    """Documents that a 200 is JSON, or `text/event-stream` with `stream=true`: one schema per event."""
    event = {
        "type": "object",
        "properties": {
            "event": {"type": "string", "enum": events},
            "data": {"type": "string", "contentMediaType": "application/json", "description": "the event as JSON"},
        },
        "required": ["event", "data"],
    }
    description = f"{what}; with stream=true, server-sent events: {', '.join(events)}"
    return {"responses": {200: {"description": description, "content": {"text/event-stream": {"schema": event}}}}}


class StreamQuery(Schema):
    stream: bool = Field(False, description="Answer as server-sent events instead of one JSON body")


# --- summaries --------------------------------------------------------------------------------------


class SummaryQuery(StreamQuery):
    language: Language = "zh"
    style: str = Field("standard", min_length=1, max_length=40, pattern=NO_NUL, description=STYLE_DESCRIPTION)


class KeyPointOut(Schema):
    start_ms: int
    text: str


class SummaryOut(Schema):
    id: int
    bvid: str
    page: int
    language: str
    status: str
    content: str = Field(description="Markdown")
    key_points: list[KeyPointOut]
    highlights: list[dict] = Field(description="Danmaku peaks: start_ms, end_ms, count, ratio, texts")
    chapters: list[ChapterOut] = Field(description="Tiling the part from 0 to its end (see /chapters)")
    mode: str
    offline: bool
    model: str
    prompt_version: str
    style: str = Field(description='The style key: "standard", "brief", "study", "qa" or "custom:<id>:<hash>"')
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    completed_at: datetime | None


class PendingOut(Schema):
    status: Literal["ingesting"]
    message: str
    part: PartOut


@router.get(
    "/videos/{bvid}/parts/{page}/summary",
    response={200: SummaryOut, 202: PendingOut, **error_responses(404, 409, 429, 502)},
    openapi_extra=sse_openapi(
        "The summary, once made (the first request makes it)",
        ["start", "progress", "section", "token", "reset", "done", "error"],
    ),
    tags=["summaries"],
    url_name=SUMMARY_URL_NAME,
)
async def summary_get(request: HttpRequest, bvid: Bvid, page: Page, query: Query[SummaryQuery]) -> Any:
    """The part's summary. 202 with the ingestion status while the part is not ready yet."""
    # The token check may have read it already (chat.cached_summaries.summary_read_for).
    read = joined_read(request, bvid=bvid, page=page, language=query.language, style=query.style)
    made, part = (read.made, None) if read is not None and not query.stream else (None, None)
    if made is None:
        made, part = await made_summary_or_part(
            bvid=bvid, page=page, query=query, user=request.auth, looked=read is not None
        )
    if made is not None:  # the cached read: free, no generation to open, one query
        body = summary_json(bvid=bvid, page=page, row=made, fields=SUMMARY_OUT_FIELDS)
        return HttpResponse(body, content_type="application/json; charset=utf-8")
    if not part.is_ready and part.is_in_progress:
        pending = {"status": "ingesting", "message": AppError(PART_NOT_READY).message(), "part": part_out(part)}
        return Status(202, pending)
    order = SummaryOrder(query.language, style=query.style)
    events = await generation_open(user=request.auth, bvid=bvid, page=page, order=order)
    if query.stream:
        return await sse_response(events)
    done = await last_event(events)
    return {"bvid": bvid, "page": page, **done["summary"]}


# The cached read's JSON (chat.cached_summaries.summary_json) has exactly SummaryOut's fields.
SUMMARY_OUT_FIELDS = {
    "": tuple(SummaryOut.model_fields),
    "key_points": tuple(KeyPointOut.model_fields),
    "chapters": tuple(ChapterOut.model_fields),
}


@sync_to_async
def made_summary_or_part(
    *, bvid: str, page: int, query: SummaryQuery, user: Any, looked: bool = False
) -> tuple[dict | None, VideoPart | None]:
    """One trip to the database thread. For a JSON request whose summary is already made (a ready
    part, chat.cached_summaries): its fields, in one query (none if the token check `looked`).
    Otherwise the part (or part_not_found) for the full path; the gate also reports bad input
    there (a bad style, language)."""
    if not query.stream and not looked:
        try:
            key = style_key(style=query.style, user=user)
        except AppError:
            key = None
        made = summary_made_for(bvid=bvid, page=page, language=query.language, style=key) if key else None
        if made is not None:
            return made, None
    return None, part_get_or_404(bvid=bvid, page=page)


# --- comment drafts ---------------------------------------------------------------------------------


class CommentDraftsOut(Schema):
    id: int
    bvid: str
    page: int
    tone: str
    drafts: list[str]
    offline: bool
    model: str
    created_at: datetime | None


@router.post(
    "/videos/{bvid}/parts/{page}/comments",
    response={200: CommentDraftsOut, **error_responses(403, 404, 409, 429, 502)},
    openapi_extra=sse_openapi(
        "Three comment drafts (suggestions only; nothing is posted)", ["start", "progress", "token", "done", "error"]
    ),
    tags=["comments"],
)
async def comment_drafts_create(
    request: HttpRequest, bvid: Bvid, page: Page, body: CommentsIn, query: Query[StreamQuery]
) -> Any:
    """Draft three comments for the part in a tone; the summary is made first when needed."""
    order = CommentsOrder(body.tone, body.language)
    events = await generation_open(user=request.auth, bvid=bvid, page=page, order=order)
    if query.stream:
        return await sse_response(events)
    done = await last_event(events)
    return {"bvid": bvid, "page": page, **done["comment_set"]}


# --- chat -------------------------------------------------------------------------------------------


class CitationOut(Schema):
    chunk_id: int
    start_ms: int
    end_ms: int
    label: str


class TokenUsageOut(Schema):
    prompt_tokens: int
    completion_tokens: int


class AnswerOut(Schema):
    conversation_id: int
    message_id: int
    status: str
    content: str
    citations: list[CitationOut]
    usage: TokenUsageOut
    offline: bool


@router.post(
    "/videos/{bvid}/parts/{page}/chat",
    response={200: AnswerOut, **error_responses(403, 404, 409, 429, 502)},
    openapi_extra=sse_openapi(
        "The answer, with citations of moments in the video", ["start", "token", "citations", "done", "error"]
    ),
    tags=["chat"],
)
async def chat_ask(request: HttpRequest, bvid: Bvid, page: Page, body: ChatIn, query: Query[StreamQuery]) -> Any:
    """Ask a question about a ready part; pass `conversation_id` to continue a conversation."""
    order = AnswerOrder(body.question, body.conversation_id, body.language)
    events = await generation_open(user=request.auth, bvid=bvid, page=page, order=order)
    if query.stream:
        return await sse_response(events)
    return await answer_collect(events)


async def answer_collect(events: GateStream) -> dict:
    """The whole answer from its events; an `error` event becomes its AppError (502 upstream)."""
    content, citations = "", []
    try:
        async for event in events:
            if event["type"] == "token":
                content += event["text"]
            elif event["type"] == "citations":
                citations = event["citations"]
            elif event["type"] == "done":
                fields = ["conversation_id", "message_id", "status", "usage", "offline"]
                return {**{name: event[name] for name in fields}, "content": content, "citations": citations}
            elif event["type"] == "error":
                raise stream_error(event)
    finally:
        await events.aclose()
    raise AppError(INCOMPLETE)


# --- my conversations -------------------------------------------------------------------------------


class ConversationOut(Schema):
    id: int
    bvid: str
    page: int
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_bvid(conversation: Conversation) -> str:
        return conversation.part.video.bvid

    @staticmethod
    def resolve_page(conversation: Conversation) -> int:
        return conversation.part.page


class MessageOut(Schema):
    id: int
    role: str
    content: str
    status: str
    citations: list[CitationOut]
    offline: bool
    error: str  # why it failed or stopped, in the active language
    created_at: datetime


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]

    @staticmethod
    def resolve_messages(conversation: Conversation) -> list[Message]:
        return list(conversation.messages.order_by("created_at", "id"))


class BoundedPages(PageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=100_000)
        page_size: int | None = Field(None, ge=1, le=100)


@router.get("/conversations", response={200: list[ConversationOut], **error_responses()}, tags=["conversations"])
@paginate(BoundedPages, page_size=20)
def conversation_list(request: HttpRequest) -> QuerySet[Conversation]:
    """My conversations, most recent first (`page`, `page_size` up to 100)."""
    return conversations_for_user(request.auth)


@router.get(
    "/conversations/{conversation_id}",
    response={200: ConversationDetailOut, **error_responses(404)},
    tags=["conversations"],
)
def conversation_detail(request: HttpRequest, conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Conversation:
    """One of my conversations with its messages; anyone else's is a 404."""
    conversation = conversations_for_user(request.auth).filter(pk=conversation_id).first()
    if conversation is None:
        raise AppError(CONVERSATION_NOT_FOUND)
    return conversation


# --- my usage ---------------------------------------------------------------------------------------


class PurposeUsageOut(Schema):
    purpose: str
    calls: int
    tokens: int


class UsageOut(Schema):
    daily_token_budget: int = Field(description="0: unlimited")
    tokens_used_today: int
    tokens_remaining_today: int | None = Field(description="null when unlimited")
    requests_per_minute: int = Field(description="LLM requests per minute; 0: unlimited")
    requests_last_minute: int
    resets_at: datetime = Field(description="When today's token budget starts again (local midnight)")
    calls_today: int
    by_purpose: list[PurposeUsageOut]


@router.get("/usage", response={200: UsageOut, **error_responses()}, tags=["account"])
def usage_get(request: HttpRequest) -> dict:
    """My LLM usage today and my limits."""
    return usage_summary(request.auth)


# --- my API tokens ----------------------------------------------------------------------------------


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the secret")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret: shown this once, store it now")


class TokenIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL)


@router.get("/tokens", response={200: list[TokenOut], **error_responses()}, tags=["account"])
def token_list(request: HttpRequest) -> Any:
    """My API tokens, revoked ones included; the secrets are never shown again."""
    return api_tokens_for_user(request.auth)


@router.post("/tokens", response={201: TokenCreatedOut, **error_responses(403)}, tags=["account"])
def token_create(request: HttpRequest, body: TokenIn) -> Status[ApiToken]:
    """Create a token (signed-in session only, so a leaked token cannot mint more)."""
    if getattr(request, "auth_method", None) != "session":
        raise AppError(SESSION_REQUIRED)
    token, raw = api_token_create(user=request.auth, name=body.name)
    token.token = raw  # only on this response
    return Status(201, token)


@router.delete("/tokens/{token_id}", response={204: None, **error_responses(403, 404)}, tags=["account"])
def token_revoke(request: HttpRequest, token_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Status[None]:
    """Revoke one of my tokens; anyone else's is a 404."""
    api_token_revoke(user=request.auth, token_id=token_id)
    return Status(204, None)

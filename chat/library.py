"""A user's library: the parts they asked for (and their collections'), filtered and searched.

    library_parts(user=user, status="ready", uploader="老番茄")       # VideoParts, newest first
    library_search(user=user, query="红烧肉怎么炒糖色", collection_id=3)  # LibraryHits

The library is the parts of every video the user submitted or opened (videos.VideoRequest) and
of every item of their collections (videos.selectors.collection_part_ids). Another user's
collection looks exactly like a missing one. Search is the same hybrid retrieval as a video's
chat (chat.retrieval), over the user's parts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from chat.errors import CONVERSATION_NOT_FOUND
from chat.models import Conversation
from chat.retrieval import RetrievedChunk, retrieve_across_parts
from core.errors import AppError
from videos.models import CollectionItem, VideoPart
from videos.selectors import collection_get_for_user, collection_part_ids

STATUSES = ("ready", "in_progress", "failed")
SEARCH_LIMIT_MAX = 50


@dataclass(frozen=True)
class LibraryHit:
    """One search hit: a moment of one of the user's videos."""

    bvid: str
    page: int
    video_title: str
    part_title: str
    start_ms: int
    end_ms: int
    text: str
    url: str  # the video page at the moment: /videos/<bvid>/<page>/?t=<seconds>
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def moment_url(*, bvid: str, page: int, start_ms: int) -> str:
    """The video page opened at a moment (whole seconds)."""
    return f"{reverse('video_page', args=[bvid, page])}?t={max(0, start_ms) // 1000}"


def library_part_ids(*, user: Any, collection_id: int | None = None) -> list[int]:
    """Ids of the parts in the user's library, or in one of their collections (AppError
    collection_not_found, 404, when it is not theirs), sorted."""
    if collection_id is not None:
        collection_get_for_user(user=user, collection_id=collection_id)
        in_collection = VideoPart.objects.filter(collection_items__collection_id=collection_id)
        return sorted(set(in_collection.values_list("pk", flat=True)))
    return sorted(_library(user).values_list("pk", flat=True))


def _library(user: Any) -> QuerySet[VideoPart]:
    """The parts of the user's library, in one query: of a video they asked for, or an item of their collections."""
    requested = VideoPart.objects.filter(video__requests__user=user).values("pk")
    collected = CollectionItem.objects.filter(collection__owner=user, part__isnull=False).values("part_id")
    return VideoPart.objects.filter(pk__in=requested.union(collected))


def library_parts(
    *, user: Any, status: str | None = None, uploader: str | None = None, collection_id: int | None = None
) -> QuerySet[VideoPart]:
    """The user's parts with their videos, newest video first, by page; filtered by status
    ("ready", "in_progress", "failed"), uploader (name or mid) and collection."""
    parts = (
        VideoPart.objects.filter(pk__in=library_part_ids(user=user, collection_id=collection_id))
        .select_related("video")
        .defer("transcript_cues", "danmaku")
        .order_by("-video__created_at", "video_id", "page")
    )
    if status == "ready":
        parts = parts.filter(stage=VideoPart.Stage.READY)
    elif status == "failed":
        parts = parts.filter(stage=VideoPart.Stage.FAILED)
    elif status == "in_progress":
        parts = parts.filter(stage__in=VideoPart.IN_PROGRESS_STAGES)
    if uploader:
        by_name = Q(video__owner_name=uploader)
        parts = parts.filter(by_name | Q(video__owner_mid=int(uploader)) if uploader.isdigit() else by_name)
    return parts


def library_uploaders(*, user: Any) -> list[str]:
    """The uploaders' names in the user's library, sorted, for the filter."""
    names = VideoPart.objects.filter(pk__in=library_part_ids(user=user)).values_list("video__owner_name", flat=True)
    return sorted({name for name in names if name})


def library_ready_part_ids(*, user: Any, collection_id: int | None = None) -> list[int]:
    """The ready parts of the library (or collection): what search and cross-video chat read."""
    if collection_id is None:  # one query (the scope of every library search and question)
        return list(_library(user).filter(stage=VideoPart.Stage.READY).values_list("pk", flat=True))
    collection_get_for_user(user=user, collection_id=collection_id)
    ids = collection_part_ids(collection_id=collection_id)
    return list(VideoPart.objects.filter(pk__in=ids, stage=VideoPart.Stage.READY).values_list("pk", flat=True))


async def alibrary_search(
    *, user: Any, query: str, collection_id: int | None = None, limit: int = 8
) -> list[LibraryHit]:
    """The best `limit` moments for `query` among the user's ready parts (or a collection's)."""
    limit = max(1, min(int(limit), SEARCH_LIMIT_MAX))
    part_ids = await sync_to_async(library_ready_part_ids)(user=user, collection_id=collection_id)
    if not part_ids or not query.strip():
        return []
    chunks = await retrieve_across_parts(part_ids, query, k=limit, neighbours=0)
    return await sync_to_async(library_hits)(chunks)


def library_search(*, user: Any, query: str, collection_id: int | None = None, limit: int = 8) -> list[LibraryHit]:
    """`alibrary_search` for sync callers (pages, the MCP server)."""
    return async_to_sync(alibrary_search)(user=user, query=query, collection_id=collection_id, limit=limit)


def library_hits(chunks: Sequence[RetrievedChunk]) -> list[LibraryHit]:
    """Hits (not context chunks), best first, each named by its video and part and its first line."""
    hits = sorted((chunk for chunk in chunks if not chunk.is_context), key=lambda chunk: -chunk.score)
    parts = (
        VideoPart.objects.select_related("video")
        .defer("transcript_cues", "danmaku")
        .in_bulk([chunk.part_id for chunk in hits])
    )
    found = []
    for chunk in hits:
        part = parts[chunk.part_id]
        start_ms = chunk.cues[0].start_ms if chunk.cues else chunk.start_ms
        found.append(
            LibraryHit(
                bvid=part.video.bvid,
                page=part.page,
                video_title=part.video.title,
                part_title=part.title,
                start_ms=start_ms,
                end_ms=chunk.end_ms,
                text=chunk.text,
                url=moment_url(bvid=part.video.bvid, page=part.page, start_ms=start_ms),
                score=round(chunk.score, 6),
            )
        )
    return found


def library_conversations_for_user(*, user: Any, collection_id: int | None = None) -> QuerySet[Conversation]:
    """The user's cross-video conversations (library and collection ones, or one collection's),
    with their message count, most recent first."""
    conversations = Conversation.objects.filter(user=user).exclude(scope=Conversation.Scope.PART)
    if collection_id is not None:
        conversations = conversations.filter(collection_id=collection_id)
    counted = conversations.select_related("collection").annotate(message_count=Count("messages"))
    return counted.order_by("-updated_at", "-id")


def library_conversation_get_for_user(*, user: Any, conversation_id: int) -> Conversation:
    """The user's own cross-video conversation; anyone else's (or a one-video one) is conversation_not_found."""
    conversation = library_conversations_for_user(user=user).filter(pk=conversation_id).first()
    if conversation is None:
        raise AppError(CONVERSATION_NOT_FOUND)
    return conversation

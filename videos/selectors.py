"""Reads for videos: a part by its bvid and page, a video, a user's videos.

The API's lookups raise AppError kinds (rendered once by the API); the pages' raise Http404.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, models
from django.db.models import QuerySet
from django.http import Http404

from core.errors import NOT_FOUND, AppError
from videos.errors import (
    COLLECTION_CAPPED,
    COLLECTION_NOT_FOUND,
    INGEST_FAILED,
    INGEST_FAILED_UNKNOWN,
    PART_NOT_FOUND,
    PART_NOT_READY,
)
from videos.models import Chunk, Collection, CollectionItem, Video, VideoPart, VideoRequest


def part_find(*, bvid: str, page: int, with_transcript: bool = False) -> VideoPart | None:
    """The part with its video, without its transcript and danmaku (large JSON) unless asked for."""
    if with_transcript:
        return VideoPart.objects.select_related("video").filter(video__bvid=bvid, page=page).first()
    with connection.cursor() as cursor:
        cursor.execute(_PART_SQL, [bvid, page])
        row = cursor.fetchone()
    if row is None:
        return None
    part = _loaded(VideoPart, _PART_FIELDS, row[: len(_PART_FIELDS)])
    part.video = _loaded(Video, _VIDEO_FIELDS, row[len(_PART_FIELDS) :])
    return part


# The part with its video, without its transcript and danmaku, in SQL written once from the models:
# every LLM request and every video socket reads a part so, and the ORM would compile its query
# each time (issue 12). The same instances as the ORM's `.defer("transcript_cues", "danmaku")`.
_PART_FIELDS = tuple(
    field for field in VideoPart._meta.concrete_fields if field.name not in ("transcript_cues", "danmaku")
)
_VIDEO_FIELDS = tuple(Video._meta.concrete_fields)
_PART_SQL = f"""
SELECT {", ".join(f"part.{field.column}" for field in _PART_FIELDS)},
       {", ".join(f"video.{field.column}" for field in _VIDEO_FIELDS)}
FROM {VideoPart._meta.db_table} AS part JOIN {Video._meta.db_table} AS video ON video.id = part.video_id
WHERE video.bvid = %s AND part.page = %s
"""  # noqa: S608 - names from the models; values are parameters


def _loaded[Model: models.Model](model: type[Model], fields: tuple[models.Field, ...], values: tuple) -> Model:
    """The model instance of a row's `fields` (the others deferred), its values converted as the ORM does."""
    converted = list(values)
    for position, field in enumerate(fields):
        for converter in field.get_db_converters(connection):  # JSON fields: the text to Python
            converted[position] = converter(converted[position], field, connection)
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def part_get_or_404(*, bvid: str, page: int, with_transcript: bool = False) -> VideoPart:
    """The part, or AppError(PART_NOT_FOUND) (404)."""
    part = part_find(bvid=bvid, page=page, with_transcript=with_transcript)
    if part is None:
        raise AppError(PART_NOT_FOUND, details={"bvid": bvid, "page": page})
    return part


apart_get_or_404 = sync_to_async(part_get_or_404)


def part_or_404(bvid: str, page: int) -> VideoPart:
    """The part for a page (transcript included), or the site's 404 page."""
    part = part_find(bvid=bvid, page=page, with_transcript=True)
    if part is None:
        raise Http404("no such video part")
    return part


def part_require_ready(part: VideoPart) -> None:
    """409 unless the part is ready: still being ingested (part_not_ready), or failed (ingest_failed)."""
    if part.stage == VideoPart.Stage.FAILED:
        reason = part.error_text() or AppError(INGEST_FAILED_UNKNOWN).message()
        raise AppError(INGEST_FAILED, details={"error_code": part.error_code}, reason=reason)
    if not part.is_ready:
        raise AppError(PART_NOT_READY, details={"stage": part.stage, "percent": part.progress_percent})


def video_get_or_404(*, bvid: str) -> Video:
    video = Video.objects.filter(bvid=bvid).first()
    if video is None:
        raise AppError(NOT_FOUND, details={"bvid": bvid})
    return video


def video_parts(*, video: Video) -> QuerySet[VideoPart]:
    """The video's parts by page, without their transcripts and danmaku."""
    return video.parts.order_by("page").defer("transcript_cues", "danmaku")


def video_requests_for_user(user: object, *, limit: int | None = None) -> QuerySet[VideoRequest]:
    """The user's videos, most recently opened first, with the video loaded."""
    requests = VideoRequest.objects.filter(user=user).select_related("video").order_by("-opened_at", "-id")
    return requests[:limit] if limit else requests


def part_ids_to_reembed(*, space: str, everything: bool = False) -> list[int]:
    """Parts with chunks outside the vector space `space` (all parts with chunks if `everything`)."""
    chunks = Chunk.objects.all() if everything else Chunk.objects.exclude(embedding_model=space)
    return list(chunks.values_list("part_id", flat=True).distinct().order_by("part_id"))


def chunk_texts_of_part(*, part_id: int) -> list[tuple[int, str]]:
    """(chunk id, text) of a part's chunks, in order."""
    return list(Chunk.objects.filter(part_id=part_id).order_by("ordinal").values_list("pk", "text"))


# --- collections (videos.collections writes them) ---------------------------------------------------


def collections_for_user(user: object) -> QuerySet[Collection]:
    """The user's collections, newest first."""
    return Collection.objects.filter(owner=user).order_by("-created_at", "-id")


def collection_get_for_user(*, user: object, collection_id: int) -> Collection:
    """The user's collection, or AppError(COLLECTION_NOT_FOUND) (404), for someone else's one too."""
    collection = Collection.objects.filter(owner=user, pk=collection_id).first() if user is not None else None
    if collection is None:
        raise AppError(COLLECTION_NOT_FOUND, details={"collection_id": collection_id})
    return collection


def collection_items(*, collection_id: int) -> QuerySet[CollectionItem]:
    """The collection's items in order, with their parts and videos."""
    return (
        CollectionItem.objects.filter(collection_id=collection_id)
        .select_related("part__video")
        .defer("part__transcript_cues", "part__danmaku")
        .order_by("position")
    )


def collection_part_ids(*, collection_id: int) -> list[int]:
    """The ids of the collection's ready parts, in the collection's order."""
    items = CollectionItem.objects.filter(
        collection_id=collection_id, state=CollectionItem.State.READY, part__isnull=False
    ).order_by("position")
    return list(items.values_list("part_id", flat=True))


def collection_item_progress(item: CollectionItem) -> dict:
    """One item's state for pages, the API and the CLI (its part's stage and percent while it runs)."""
    part = item.part
    finished = item.state in (CollectionItem.State.READY, CollectionItem.State.FAILED, CollectionItem.State.SKIPPED)
    percent = 100 if finished else (part.progress_percent if part is not None and item.state == "running" else 0)
    return {
        "id": item.pk,
        "position": item.position,
        "bvid": item.bvid,
        "page": item.page,
        "title": item.title,
        "state": item.state,
        "stage": part.stage if part is not None else "",
        "percent": percent,
        "error": item.error_text(),
        "error_code": item.error_code,
    }


def collection_progress(*, collection: Collection) -> dict:
    """The collection's overall progress: counts by state and a percent over all items."""
    items = list(collection_items(collection_id=collection.pk))
    counts = {state: 0 for state in CollectionItem.State.values}
    for item in items:
        counts[item.state] += 1
    percents = [collection_item_progress(item)["percent"] for item in items]
    finished = counts["ready"] + counts["failed"] + counts["skipped"]
    cap_message = ""
    if collection.item_cap_reached:
        cap_message = AppError(
            COLLECTION_CAPPED, total=max(collection.source_item_count, len(items)), cap=settings.COLLECTION_ITEM_CAP
        ).message()
    return {
        "collection_id": collection.pk,
        "title": collection.title,
        "kind": collection.kind,
        "total": len(items),
        "counts": counts,
        "finished": finished,
        "percent": sum(percents) // len(percents) if percents else 100,
        "done": finished == len(items),
        "item_cap_reached": collection.item_cap_reached,
        "cap_message": cap_message,
    }

"""Reads for videos: a part by its bvid and page, a video, a user's videos.

The API's lookups raise AppError kinds (rendered once by the API); the pages' raise Http404.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import Http404

from core.errors import NOT_FOUND, AppError
from videos.errors import INGEST_FAILED, INGEST_FAILED_UNKNOWN, PART_NOT_FOUND, PART_NOT_READY
from videos.models import Chunk, Video, VideoPart, VideoRequest


def part_find(*, bvid: str, page: int, with_transcript: bool = False) -> VideoPart | None:
    """The part with its video, without its transcript and danmaku (large JSON) unless asked for."""
    parts = VideoPart.objects.select_related("video").filter(video__bvid=bvid, page=page)
    return (parts if with_transcript else parts.defer("transcript_cues", "danmaku")).first()


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

"""Starting work on videos: a submitted link becomes a stored part, and a part's ingestion is queued.

This is the one place that enqueues the background job (videos.tasks); the services below it only
write rows, and the pipeline (videos.ingest) never starts jobs. Pages, the API, the admin and
commands call these functions.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import transaction

from core.errors import AppError
from videos import services
from videos.bilibili import BilibiliClient
from videos.errors import NO_SUCH_PART
from videos.models import VideoPart
from videos.tasks import ingest_part_task
from videos.types import VideoRef

logger = logging.getLogger(__name__)


async def video_submit(text: str) -> VideoPart:
    """Resolve a link and return the stored part it names, storing the video's metadata first if new.

    A known video with the named part is not fetched again (a b23.tv short link still needs its
    one redirect lookup); a part we have not stored yet (added by the uploader since) fetches the
    metadata once more. Bad links, missing, private or blocked videos raise AppError before
    anything is written.
    """
    async with BilibiliClient() as client:
        ref = await client.resolve(text)
        part = await _known_part(ref)
        if part is not None:
            return part
        info = await client.fetch_video_info(ref.bvid)
    _require_page(ref.page, [part.page for part in info.parts])
    video = await sync_to_async(services.video_upsert)(info=info)
    return await VideoPart.objects.select_related("video").aget(video=video, page=ref.page)


async def _known_part(ref: VideoRef) -> VideoPart | None:
    """The stored part the link names, or None when the video or that part is not stored yet."""
    return await VideoPart.objects.select_related("video").filter(video__bvid=ref.bvid, page=ref.page).afirst()


def _require_page(page: int, pages: list[int]) -> None:
    if page not in pages:
        raise AppError(NO_SUCH_PART, page=page, count=len(pages))


def part_ingest_enqueue(*, part_id: int, force: bool = False) -> bool:
    """Queue the part's pipeline as a background job unless it is ready (and not forced) or running.

    Concurrent calls are serialized on the part's row, so only one of them queues a job.
    Returns whether a job was queued.
    """
    with transaction.atomic():
        queued = services.part_queue(part_id=part_id, force=force)
        if queued:
            transaction.on_commit(lambda: ingest_part_task.enqueue(part_id))
    return queued


def video_parts_reingest(*, video_ids: list[int]) -> int:
    """Queue every part of these videos again, ready ones included. Returns how many were queued."""
    part_ids = VideoPart.objects.filter(video_id__in=video_ids).values_list("pk", flat=True)
    return sum(part_ingest_enqueue(part_id=part_id, force=True) for part_id in part_ids)


def requeue_stale_parts() -> list[int]:
    """Queue again every part whose worker died mid-pipeline (no heartbeat for a while)."""
    requeued = [part_id for part_id in services.stale_part_ids() if part_ingest_enqueue(part_id=part_id)]
    if requeued:
        logger.warning("requeued orphaned ingestion for parts %s", requeued)
    return requeued

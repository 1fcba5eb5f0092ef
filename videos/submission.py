"""Starting work on videos: a submitted link becomes a stored part, and a part's ingestion is queued.

This is the one place that enqueues the background job (videos.tasks); the services below it only
write rows, and the pipeline (videos.ingest) never starts jobs. Pages, the API, the admin and
commands call these functions.
"""

from __future__ import annotations

import logging
import socket

import psutil
from asgiref.sync import sync_to_async
from django.db import transaction

from core.errors import AppError
from videos import collections, services
from videos.bilibili import BilibiliClient
from videos.errors import NO_SUCH_PART
from videos.models import CollectionItem, VideoPart
from videos.tasks import ingest_collection_task, ingest_part_task
from videos.types import VideoRef

logger = logging.getLogger(__name__)

_ENDED = (VideoPart.Stage.READY, VideoPart.Stage.FAILED)


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


# --- collections (videos.collections stores them, videos.collection_ingest runs them) ---------------


def collection_ingest_enqueue(*, collection_id: int) -> bool:
    """Queue the collection's ingestion job if it has items to run. Returns whether a job was queued.

    A second job for a collection a live worker runs ends at once (its claim is refused).
    """
    pending = collections.PENDING_STATES
    if not CollectionItem.objects.filter(collection_id=collection_id, state__in=pending).exists():
        return False
    with transaction.atomic():
        collections.collection_mark_queued(collection_id=collection_id)
        transaction.on_commit(lambda: ingest_collection_task.enqueue(collection_id))
    return True


def collection_retry_failed_enqueue(*, collection_id: int) -> int:
    """Queue the collection's failed items again. Returns how many."""
    retried = collections.collection_retry_failed(collection_id=collection_id)
    if retried:
        collection_ingest_enqueue(collection_id=collection_id)
    return retried


def requeue_stale_collections() -> list[int]:
    """Queue again every collection with items left and no live worker (it died, or was never started)."""
    requeued = [pk for pk in collections.stale_collection_ids() if collection_ingest_enqueue(collection_id=pk)]
    if requeued:
        logger.warning("requeued ingestion of collections %s", requeued)
    return requeued


# --- resuming after a worker died (issue 18: runsite's supervisor calls these) -----------------------


def parts_of_worker_requeue(*, worker: str) -> list[int]:
    """Queue again at once the parts a worker that died had claimed (its identity: host:pid).

    The claim is dropped first, so the new job does not wait for the stale window.
    """
    with transaction.atomic():
        rows = VideoPart.objects.select_for_update().filter(claimed_by=worker).exclude(stage__in=_ENDED)
        part_ids = list(rows.values_list("pk", flat=True))
        VideoPart.objects.filter(pk__in=part_ids).update(claimed_by="", heartbeat_at=None)
    requeued = [part_id for part_id in part_ids if part_ingest_enqueue(part_id=part_id)]
    if requeued:
        logger.warning("worker %s died; requeued its parts %s", worker, requeued)
    return requeued


def dead_local_workers_requeue() -> list[int]:
    """Queue again the parts claimed by workers of this machine whose process is gone."""
    host = socket.gethostname()
    workers = set(
        VideoPart.objects.filter(claimed_by__startswith=f"{host}:")
        .exclude(stage__in=_ENDED)
        .values_list("claimed_by", flat=True)
    )
    requeued: list[int] = []
    for worker in sorted(workers):
        pid = worker.rpartition(":")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            requeued += parts_of_worker_requeue(worker=worker)
    return requeued


def collections_of_worker_requeue(*, worker: str) -> list[int]:
    """Queue again at once the collections a worker that died was running (its identity: host:pid).

    Its claims on the collections and on their parts are dropped first, so nothing waits for the
    stale window; items already ready are not run again.
    """
    collection_ids = collections.collections_of_worker_release(worker=worker)
    requeued = [pk for pk in collection_ids if collection_ingest_enqueue(collection_id=pk)]
    if requeued:
        logger.warning("worker %s died; requeued its collections %s", worker, requeued)
    return requeued


def dead_local_collection_workers_requeue() -> list[int]:
    """Queue again the collections run by workers of this machine whose process is gone."""
    host = socket.gethostname()
    requeued: list[int] = []
    for worker in collections.collection_workers(prefix=f"{host}:"):
        pid = worker.rpartition(":")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            requeued += collections_of_worker_requeue(worker=worker)
    return requeued

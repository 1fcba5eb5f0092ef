"""Ingesting a whole collection: its items (video parts) COLLECTION_INGEST_CONCURRENCY at a time.

One worker claims the collection (a heartbeat on its row) and runs every queued item through the
part pipeline (videos.ingest). Each item's state is saved as it changes, and the collection's
overall progress is published on the channel layer (group `collection.<id>`). An item whose part
is ready already is not run again, so a job started again after a crash or restart (the sweep in
videos.submission queues it) finishes only what is left. A failing item (private, deleted,
region-locked video) is marked failed with its reason; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from core.errors import INTERNAL_ERROR, AppError
from videos import collections, selectors, services
from videos.bilibili import BilibiliClient
from videos.errors import NO_SUCH_PART
from videos.ingest import part_ingest
from videos.models import Collection, CollectionItem, VideoPart

logger = logging.getLogger(__name__)

State = CollectionItem.State
# Called with ("item", item progress dict) and ("collection", overall progress dict).
ProgressCallback = Callable[[str, dict], Awaitable[None] | None]
OTHER_WORKER_POLL_SECONDS = 1.0


def collection_group_name(collection_id: int) -> str:
    return f"collection.{collection_id}"


async def collection_progress_publish(collection_id: int, payload: dict) -> None:
    """Send {"type": "collection.progress", ...} to the collection's group; never fails the ingestion."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(collection_group_name(collection_id), {"type": "collection.progress", **payload})
    except Exception:
        logger.warning("could not publish progress of collection %s", collection_id, exc_info=True)


class CollectionRun:
    """One worker's run over a collection's queued items."""

    def __init__(self, collection_id: int, *, worker: str, on_progress: ProgressCallback | None = None) -> None:
        self.collection_id = collection_id
        self.worker = worker
        self.on_progress = on_progress
        self.limit = asyncio.Semaphore(max(1, int(settings.COLLECTION_INGEST_CONCURRENCY)))

    async def tell(self, what: str, payload: dict) -> None:
        await collection_progress_publish(self.collection_id, {"what": what, **payload})
        if self.on_progress is not None:
            result = self.on_progress(what, payload)
            if result is not None:
                await result

    async def announce_item(self, item: CollectionItem) -> None:
        await self.tell("item", selectors.collection_item_progress(item))
        await self.announce_collection()

    async def announce_collection(self) -> None:
        collection = await Collection.objects.aget(pk=self.collection_id)
        await self.tell("collection", await sync_to_async(selectors.collection_progress)(collection=collection))

    async def run(self) -> None:
        """Run queued items until none is left (items found on the way, e.g. more parts, included)."""
        while True:
            pending = [
                item
                async for item in CollectionItem.objects.filter(
                    collection_id=self.collection_id, state__in=collections.PENDING_STATES
                ).order_by("position")
            ]
            if not pending:
                return
            await asyncio.gather(*(self.run_item_limited(item) for item in pending))

    async def run_item_limited(self, item: CollectionItem) -> None:
        async with self.limit:
            try:
                await self.run_item(item)
            except AppError as exc:
                await self.save(item, State.FAILED, error=exc)
            except Exception:
                logger.exception("item %s of collection %s failed", item.pk, self.collection_id)
                await self.save(item, State.FAILED, error=AppError(INTERNAL_ERROR))

    async def save(self, item: CollectionItem, state: str, **fields: object) -> CollectionItem:
        saved = await sync_to_async(collections.item_state_save)(item_id=item.pk, state=state, **fields)
        await self.announce_item(saved)
        return saved

    async def run_item(self, item: CollectionItem) -> None:
        part = await self.item_part(item)
        item = await self.save(item, State.RUNNING, part_id=part.pk)
        if not part.is_ready:
            await self.ingest_part(item, part)
            await part.arefresh_from_db()
        if part.is_ready:
            await self.save(item, State.READY, part_id=part.pk)
        else:
            saved = await sync_to_async(collections.item_error_from_part)(item_id=item.pk, part=part)
            await self.announce_item(saved)

    async def item_part(self, item: CollectionItem) -> VideoPart:
        """The item's stored part (its video's metadata is fetched once, when not stored yet)."""
        if item.part_id is not None:
            return await VideoPart.objects.select_related("video").aget(pk=item.part_id)
        part = await _stored_part(item.bvid, item.page)
        collection = await Collection.objects.aget(pk=self.collection_id)
        if item.page == 1 and collection.kind in (Collection.Kind.SEASON, Collection.Kind.SERIES):
            pages = [(p.page, p.title or f"P{p.page}") async for p in part.video.parts.order_by("page")]
            if len(pages) > 1:
                await sync_to_async(collections.collection_items_expand)(
                    collection_id=self.collection_id, item_id=item.pk, pages=pages
                )
        return part

    async def ingest_part(self, item: CollectionItem, part: VideoPart) -> None:
        """Run the part's pipeline here; if another worker has it, wait until it is done."""
        await sync_to_async(services.part_queue)(part_id=part.pk)

        async def on_part_progress(progress: dict) -> None:
            refreshed = await CollectionItem.objects.select_related("part").aget(pk=item.pk)
            await self.announce_item(refreshed)

        ran = await part_ingest(part.pk, on_progress=on_part_progress)
        while not ran:
            await part.arefresh_from_db()
            if not part.is_in_progress:
                return
            await asyncio.sleep(OTHER_WORKER_POLL_SECONDS)
            ran = await part_ingest(part.pk, on_progress=on_part_progress)


async def collection_ingest(
    collection_id: int, *, worker: str | None = None, on_progress: ProgressCallback | None = None
) -> bool:
    """Run the collection's queued items if this worker can claim it. False when a live worker has it."""
    worker = worker or services.worker_identity()
    claimed, dead_worker = await sync_to_async(collections.collection_claim)(collection_id=collection_id, worker=worker)
    if not claimed:
        logger.info("collection %s is being ingested by another worker", collection_id)
        return False
    if dead_worker:
        released = await sync_to_async(collections.parts_release_of_dead_worker)(
            collection_id=collection_id, worker=dead_worker
        )
        logger.warning("resuming collection %s after %s died (%s parts released)", collection_id, dead_worker, released)
    heartbeat = asyncio.create_task(_heartbeat(collection_id, worker))
    run = CollectionRun(collection_id, worker=worker, on_progress=on_progress)
    try:
        await run.run()
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        await sync_to_async(collections.collection_release)(collection_id=collection_id, worker=worker)
    await run.announce_collection()
    return True


async def _stored_part(bvid: str, page: int) -> VideoPart:
    """The part, storing its video's metadata first when it is not stored yet."""
    parts = VideoPart.objects.select_related("video").filter(video__bvid=bvid)
    part = await parts.filter(page=page).afirst()
    if part is not None:
        return part
    async with BilibiliClient() as client:
        info = await client.fetch_video_info(bvid)
    await sync_to_async(services.video_upsert)(info=info)
    part = await parts.filter(page=page).afirst()
    if part is None:
        raise AppError(NO_SUCH_PART, page=page, count=len(info.parts))
    return part


async def _heartbeat(collection_id: int, worker: str) -> None:
    interval = collections.stale_after_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        await sync_to_async(collections.collection_heartbeat)(collection_id=collection_id, worker=worker)

"""Writes for collections: create one from a link, its items, their states, retry the failed ones.

A collection's items are video parts in the source's order: item positions are
`video index * PARTS_STRIDE + page - 1`, so the parts of a multi-part video found while
ingesting a 合集 or series slot in right after its first part. Starting the ingestion is
videos.submission's business; the pipeline that runs the items is videos.collection_ingest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import AppError
from videos.bilibili import BilibiliClient
from videos.bilibili_collections import (
    CollectionListing,
    CollectionRef,
    collection_listing_fetch,
    collection_ref_resolve,
)
from videos.errors import COLLECTION_EMPTY, ITEM_UNAVAILABLE
from videos.models import Collection, CollectionItem, VideoPart

PARTS_STRIDE = 1000  # positions left for the parts of one listed video
State = CollectionItem.State
PENDING_STATES = (State.QUEUED, State.RUNNING)
FINISHED_STATES = (State.READY, State.FAILED, State.SKIPPED)


def item_cap() -> int:
    return max(1, int(settings.COLLECTION_ITEM_CAP))


async def collection_submit(*, owner: object, text: str) -> Collection:
    """The user's collection for a link: read its listing from Bilibili and store it with its items.

    A link the user submitted before gives back the same collection (no new listing). Bad links,
    private folders and empty collections raise AppError before anything is written.
    """
    async with BilibiliClient() as client:
        ref = await collection_ref_resolve(client, text)
        existing = await Collection.objects.filter(owner=owner, kind=ref.kind, source_id=ref.source_id).afirst()
        if existing is not None:
            return existing
        listing = await collection_listing_fetch(client, ref, limit=item_cap())
    if not listing.videos:
        raise AppError(COLLECTION_EMPTY, details={"kind": ref.kind, "source_id": ref.source_id})
    return await sync_to_async(collection_create)(owner=owner, ref=ref, listing=listing)


@transaction.atomic
def collection_create(*, owner: object, ref: CollectionRef, listing: CollectionListing) -> Collection:
    """Store a collection and one item per part (up to COLLECTION_ITEM_CAP); get it back if it exists."""
    collection, created = Collection.objects.get_or_create(
        owner=owner,
        kind=ref.kind,
        source_id=ref.source_id,
        defaults={
            "source_url": ref.source_url,
            "title": listing.title[:500],
            "uploader_mid": listing.uploader_mid,
            "uploader_name": listing.uploader_name[:200],
            "source_item_count": listing.total,
        },
    )
    if not created:
        return collection
    items = _items_of_listing(collection, listing)
    CollectionItem.objects.bulk_create(items[: item_cap()])
    listing_cut = len(listing.videos) >= item_cap() and listing.total > len(listing.videos)
    capped = len(items) > item_cap() or listing_cut
    if capped:
        Collection.objects.filter(pk=collection.pk).update(item_cap_reached=True)
        collection.item_cap_reached = True
    return collection


def _items_of_listing(collection: Collection, listing: CollectionListing) -> list[CollectionItem]:
    items = []
    unavailable = AppError(ITEM_UNAVAILABLE).stored()
    for index, video in enumerate(listing.videos):
        for page in range(1, min(video.pages, PARTS_STRIDE) + 1):
            title = video.page_titles[page - 1] if len(video.page_titles) >= page else video.title
            if video.pages > 1 and not video.page_titles:
                title = f"{video.title} P{page}"
            item = CollectionItem(
                collection=collection, position=index * PARTS_STRIDE + page - 1, bvid=video.bvid, page=page
            )
            item.title = title[:500]
            if video.unavailable:
                item.state, item.error_code, item.error_params = State.FAILED, unavailable["code"], {}
            items.append(item)
    return items


def collection_items_expand(*, collection_id: int, item_id: int, pages: list[tuple[int, str]]) -> int:
    """Add items for the other parts of an item's multi-part video (found while ingesting it).

    `pages` is (page, title) of every part. Parts past the cap are not added (the collection is
    marked capped). Returns how many items were added.
    """
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        item = CollectionItem.objects.get(pk=item_id)
        base = item.position - (item.page - 1)
        existing = set(
            CollectionItem.objects.filter(collection=collection, bvid=item.bvid).values_list("page", flat=True)
        )
        room = item_cap() - collection.items.count()
        new = [
            CollectionItem(
                collection=collection, position=base + page - 1, bvid=item.bvid, page=page, title=title[:500]
            )
            for page, title in pages
            if page not in existing and page <= PARTS_STRIDE
        ]
        CollectionItem.objects.bulk_create(new[: max(0, room)])
        if len(new) > room:
            Collection.objects.filter(pk=collection_id).update(item_cap_reached=True)
    return min(len(new), max(0, room))


def item_state_save(
    *, item_id: int, state: str, part_id: int | None = None, error: AppError | None = None, error_code: str = ""
) -> CollectionItem:
    """Record an item's state (and its part, and why it failed)."""
    stored = error.stored() if error is not None else {"code": error_code, "params": {}}
    fields: dict = {"state": state, "error_code": stored["code"], "error_params": stored["params"]}
    if part_id is not None:
        fields["part_id"] = part_id
    CollectionItem.objects.filter(pk=item_id).update(updated_at=timezone.now(), **fields)
    return CollectionItem.objects.select_related("part").get(pk=item_id)


def item_error_from_part(*, item_id: int, part: VideoPart) -> CollectionItem:
    """Copy a failed part's stored error onto its item."""
    CollectionItem.objects.filter(pk=item_id).update(
        state=State.FAILED, part_id=part.pk, error_code=part.error_code, error_params=part.error_params
    )
    return CollectionItem.objects.select_related("part").get(pk=item_id)


def collection_retry_failed(*, collection_id: int) -> int:
    """Put the collection's failed items back in the queue. Returns how many."""
    return CollectionItem.objects.filter(collection_id=collection_id, state=State.FAILED).update(
        state=State.QUEUED, error_code="", error_params={}, updated_at=timezone.now()
    )


# --- the claim of the worker running a collection ---------------------------------------------------


def stale_after_seconds() -> float:
    return max(1.0, float(settings.COLLECTION_STALE_SECONDS))


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=stale_after_seconds())


def collection_claim(*, collection_id: int, worker: str) -> tuple[bool, str]:
    """Take the collection for this worker unless a live worker has it.

    Returns (claimed, the worker that held it before: "" or a worker that died without letting go).
    """
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        live = collection.claimed_by not in ("", worker) and (
            collection.heartbeat_at is not None and collection.heartbeat_at >= _stale_before()
        )
        if live:
            return False, ""
        previous = "" if collection.claimed_by == worker else collection.claimed_by
        Collection.objects.filter(pk=collection_id).update(claimed_by=worker, heartbeat_at=timezone.now())
    return True, previous


def collection_heartbeat(*, collection_id: int, worker: str) -> bool:
    return Collection.objects.filter(pk=collection_id, claimed_by=worker).update(heartbeat_at=timezone.now()) == 1


def collection_release(*, collection_id: int, worker: str) -> None:
    Collection.objects.filter(pk=collection_id, claimed_by=worker).update(claimed_by="")


def collection_mark_queued(*, collection_id: int) -> None:
    """Note that a job was queued for the collection (so the sweep does not queue another at once).

    A claim left by a dead worker (no heartbeat for COLLECTION_STALE_SECONDS) is cleared, and so
    are the claims it held on the collection's parts; a live worker's claim is left alone.
    """
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        dead = collection.claimed_by and (collection.heartbeat_at is None or collection.heartbeat_at < _stale_before())
        if collection.claimed_by and not dead:
            return
        if dead:
            parts_release_of_dead_worker(collection_id=collection_id, worker=collection.claimed_by)
        Collection.objects.filter(pk=collection_id).update(claimed_by="", heartbeat_at=timezone.now())


def parts_release_of_dead_worker(*, collection_id: int, worker: str) -> int:
    """Let go of the collection's parts a dead worker still held, so they can run again now."""
    if not worker:
        return 0
    part_ids = CollectionItem.objects.filter(collection_id=collection_id, part__isnull=False).values("part_id")
    return VideoPart.objects.filter(pk__in=part_ids, claimed_by=worker).update(claimed_by="")


def stale_collection_ids() -> list[int]:
    """Collections with items still to run and no live worker (it died, or no job ever started)."""
    pending = CollectionItem.objects.filter(state__in=PENDING_STATES).values("collection_id")
    stale = Q(heartbeat_at__lt=_stale_before()) | Q(heartbeat_at__isnull=True)
    return list(Collection.objects.filter(pk__in=pending).filter(stale).order_by("pk").values_list("pk", flat=True))


def collection_workers(*, prefix: str) -> list[str]:
    """The workers (host:pid starting with `prefix`) holding a claim on some collection."""
    claims = Collection.objects.filter(claimed_by__startswith=prefix).values_list("claimed_by", flat=True)
    return sorted(set(claims))


def collections_of_worker_release(*, worker: str) -> list[int]:
    """Drop a dead worker's claims on collections and on their parts. Returns the collections' ids."""
    with transaction.atomic():
        rows = Collection.objects.select_for_update().filter(claimed_by=worker)
        collection_ids = list(rows.values_list("pk", flat=True))
        for collection_id in collection_ids:
            parts_release_of_dead_worker(collection_id=collection_id, worker=worker)
        Collection.objects.filter(pk__in=collection_ids).update(claimed_by="", heartbeat_at=None)
    return collection_ids

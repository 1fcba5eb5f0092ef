"""The collections API: a user's collections, their overall progress and their items.

Only the owner sees a collection: anyone else's is the same 404 `collection_not_found` as a
missing one. Creating one (`POST /collections`) checks the user's quota first, so it lives in the
chat layer (chat.collections_entry), which adds it to this router.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from core.api import error_responses
from videos.models import Collection
from videos.selectors import (
    collection_get_for_user,
    collection_item_progress,
    collection_items,
    collection_progress,
    collections_for_user,
)
from videos.submission import collection_retry_failed_enqueue

router = Router(tags=["collections"])


class CollectionCountsOut(Schema):
    queued: int
    running: int
    ready: int
    failed: int
    skipped: int


class CollectionOut(Schema):
    id: int
    kind: str = Field(description="parts (a multi-part video), season (合集), series or favourites")
    source_id: str
    source_url: str
    title: str
    uploader_name: str
    created_at: datetime
    total: int = Field(description="items (video parts) in the collection")
    finished: int = Field(description="items ready, failed or skipped")
    percent: int = Field(description="overall progress over all items, 0-100")
    done: bool
    counts: CollectionCountsOut
    item_cap_reached: bool
    cap_message: str = Field(description="why only some items were taken (COLLECTION_ITEM_CAP), or empty")


class CollectionItemOut(Schema):
    id: int
    position: int
    bvid: str
    page: int
    title: str
    state: str = Field(description="queued, running, ready, failed or skipped")
    stage: str = Field(description="the part's pipeline stage while it runs")
    percent: int
    error: str = Field(description="why the item failed, in the request's language")
    error_code: str


class RetryOut(Schema):
    retried: int


def collection_out(collection: Collection) -> dict:
    progress = collection_progress(collection=collection)
    fields = ["source_id", "source_url", "title", "uploader_name", "created_at", "kind"]
    return {
        "id": collection.pk,
        **{name: getattr(collection, name) for name in fields},
        **{name: progress[name] for name in ("total", "finished", "percent", "done", "counts", "cap_message")},
        "item_cap_reached": collection.item_cap_reached,
    }


@router.get("/collections", response={200: list[CollectionOut], **error_responses()})
def collection_list(request: HttpRequest) -> list[dict]:
    """The user's collections, newest first, with their progress."""
    return [collection_out(collection) for collection in collections_for_user(request.auth)]


@router.get("/collections/{collection_id}", response={200: CollectionOut, **error_responses(404)})
def collection_detail(request: HttpRequest, collection_id: int) -> dict:
    """One of the user's collections and its overall progress."""
    return collection_out(collection_get_for_user(user=request.auth, collection_id=collection_id))


@router.get("/collections/{collection_id}/items", response={200: list[CollectionItemOut], **error_responses(404)})
def collection_item_list(request: HttpRequest, collection_id: int) -> list[dict]:
    """The collection's items in order: state, progress, and why a failed one failed."""
    collection = collection_get_for_user(user=request.auth, collection_id=collection_id)
    return [collection_item_progress(item) for item in collection_items(collection_id=collection.pk)]


@router.post("/collections/{collection_id}/retry", response={200: RetryOut, **error_responses(404)})
def collection_retry(request: HttpRequest, collection_id: int) -> dict:
    """Queue the collection's failed items again."""
    collection = collection_get_for_user(user=request.auth, collection_id=collection_id)
    return {"retried": collection_retry_failed_enqueue(collection_id=collection.pk)}

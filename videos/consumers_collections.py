"""A collection's progress socket, for its page (static/js/collection.js):

  ws/collections/<id>/progress/
  server → {"type": "collection", "total", "counts", "finished", "percent", "done", "cap_message", ...}
           {"type": "item", "id", "position", "bvid", "page", "title", "state", "stage", "percent", "error", ...}

Once accepted it sends the overall progress and every item, then only what changes: the worker's
`collection.progress` messages on the collection's group (videos.collection_ingest), the
`ingest.progress` messages of its videos' groups (videos.progress), and, while the collection is
not done, a look at its rows every PROGRESS_POLL_SECONDS (a worker in another process is heard
only through the rows with the in-memory channel layer), as the video socket does. Frames are the
shapes of `GET /api/v1/collections/{id}` and `/items` (videos.selectors). Nothing is received.

Accepted first, then closed with 4401 when nobody is signed in and 4404 when the collection is not
the user's (someone else's looks exactly like a missing one).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.errors import AppError
from core.websocket_language import SocketInItsOwnLanguage
from videos import selectors
from videos.collection_ingest import collection_group_name
from videos.models import Collection
from videos.progress import video_group_name

PROGRESS_POLL_SECONDS = 1.0
CLOSE_NOT_FOUND = 4404
# What makes an item or the overall progress worth a new frame.
ITEM_KEYS = ("state", "stage", "percent", "error")
COLLECTION_KEYS = ("total", "finished", "percent", "counts", "done", "cap_message")


def progress_snapshot(collection_id: int) -> tuple[dict, list[dict]]:
    """The collection's overall progress and its items' (reads the rows)."""
    items = selectors.collection_items(collection_id=collection_id)
    overall = selectors.collection_progress(collection=Collection.objects.get(pk=collection_id))
    return overall, [selectors.collection_item_progress(item) for item in items]


class CollectionProgressConsumer(SocketInItsOwnLanguage, AsyncJsonWebsocketConsumer):
    collection_id: int

    async def connect(self) -> None:
        self.groups_joined: set[str] = set()
        self.sent: dict[Any, tuple] = {}
        self.watcher: asyncio.Task | None = None
        user = await self.accept_signed_in()
        if user is None:
            return
        collection_id = self.scope["url_route"]["kwargs"]["collection_id"]
        try:  # one trip to the database thread, which then gives its connection back to the pool
            await database_sync_to_async(selectors.collection_get_for_user)(user=user, collection_id=collection_id)
        except AppError:
            await self.close(code=CLOSE_NOT_FOUND, reason="no such collection")
            return
        self.collection_id = collection_id
        await self.join(collection_group_name(collection_id))
        done = await self.refresh()
        if not done:
            self.watcher = asyncio.create_task(self.watch())

    async def disconnect(self, code: int) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.watcher
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def join(self, group: str) -> None:
        if group not in self.groups_joined:
            self.groups_joined.add(group)
            await self.channel_layer.group_add(group, self.channel_name)

    async def refresh(self) -> bool:
        """Read the rows, send what changed (joining the groups of new videos); whether all is done."""
        overall, items = await database_sync_to_async(progress_snapshot)(self.collection_id)
        for item in items:
            await self.join(video_group_name(item["bvid"]))
            await self.send_item(item)
        await self.send_collection(overall)
        return overall["done"]

    async def watch(self) -> None:
        """Follow the rows until the collection is done (a worker in another process)."""
        done = False
        while not done:
            await asyncio.sleep(PROGRESS_POLL_SECONDS)
            done = await self.refresh()

    async def send_item(self, item: dict) -> None:
        key = tuple(item.get(name) for name in ITEM_KEYS)
        if self.sent.get(item["id"]) != key:
            self.sent[item["id"]] = key
            await self.send_json({"type": "item", **item})

    async def send_collection(self, overall: dict) -> None:
        key = tuple(str(overall.get(name)) for name in COLLECTION_KEYS)
        if self.sent.get("collection") != key:
            self.sent["collection"] = key
            await self.send_json({"type": "collection", **overall})

    async def collection_progress(self, event: dict) -> None:
        """From the worker (videos.collection_ingest): an item's progress or the overall one."""
        payload = {key: value for key, value in event.items() if key not in ("type", "what")}
        if event.get("what") == "item":
            await self.join(video_group_name(payload["bvid"]))
            await self.send_item(payload)
        elif event.get("what") == "collection":
            await self.send_collection(payload)

    async def ingest_progress(self, event: dict) -> None:
        """A part of one of the collection's videos moved (videos.progress): read its item and the total."""
        if not hasattr(self, "collection_id"):
            return
        await self.refresh()

"""The library's websocket: cross-video chat over the whole library or one collection, and a
collection's series summary. The same frames and machinery as the video page's socket
(chat.consumers.VideoPartConsumer: language, token frames, cancel, error frames):

  ws/library/                 client → {"type": "ask", "question", "conversation_id"?, "language"?}
  ws/collections/<id>/        the same, over the collection; and {"type": "summary" | "regenerate",
                              "language"?} for its series summary (stream "summary"); {"type": "cancel"}
  server → {"type": "ready", "scope": "library"|"collection", "collection_id"} once accepted, then
           {"type": "start" | "token" | "citations" | "done" | "error", "stream", ...}, {"type": "cancelled", ...}

Closed with 4401 when nobody is signed in, 4404 when the collection is not the user's (someone
else's looks exactly like a missing one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import aclose_old_connections, database_sync_to_async

from chat.consumers import CLOSE_NO_SUCH_PART, VideoPartConsumer
from chat.errors import BAD_REQUEST, BUSY
from chat.gate import library_generation_open
from chat.models import Conversation
from chat.schemas_library import library_order_from_frame
from core.errors import AppError
from videos.selectors import collection_get_for_user

# The frame types that start a stream, and the stream each runs on.
LIBRARY_STREAM_OF = {"ask": "answer", "summary": "summary", "regenerate": "summary"}


class LibraryConsumer(VideoPartConsumer):
    collection_id: int | None

    async def connect(self) -> None:
        user = await self.accept_signed_in()
        if user is None:
            return
        collection_id = self.scope["url_route"]["kwargs"].get("collection_id")
        if collection_id is not None:
            try:  # one trip to the database thread, which then gives its connection back to the pool
                await database_sync_to_async(collection_get_for_user)(user=user, collection_id=collection_id)
            except AppError:
                await self.close(code=CLOSE_NO_SUCH_PART, reason="no such collection")
                return
        self.collection_id = collection_id
        scope = Conversation.Scope.LIBRARY if collection_id is None else Conversation.Scope.COLLECTION
        await self.send_json({"type": "ready", "scope": scope, "collection_id": collection_id})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not hasattr(self, "collection_id"):
            return  # closed in connect; frames still in flight are dropped
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cancel":
            await self.cancel_streams()
            return
        stream = LIBRARY_STREAM_OF.get(kind) if isinstance(kind, str) else None
        if stream is None or (stream == "summary" and self.collection_id is None):
            await self.send_error(AppError(BAD_REQUEST, reason=f"type={kind!r}"), stream=None)
            return
        if self.running(stream):
            await self.send_error(AppError(BUSY), stream=stream)
            return
        try:
            fields = {key: value for key, value in content.items() if key != "type"}
            order = library_order_from_frame(kind, fields, collection_id=self.collection_id)
            events = await library_generation_open(user=self.scope["user"], order=order)
        except AppError as exc:
            await aclose_old_connections()
            await self.send_error(exc, stream=stream)
            return
        self.tasks[stream] = asyncio.create_task(self.forward(stream, events))

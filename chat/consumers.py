"""The video page's websocket: ingestion progress, the streamed summary and chat, on one socket.

Protocol (JSON frames; see README):
  client → {"type": "ask", "question", "conversation_id"?, "language"?}
           {"type": "summary", "language"?}  {"type": "regenerate", "language"?}
           {"type": "comments", "tone"?, "language"?}  {"type": "cancel"}
  server → {"type": "progress", "stage", "percent", "error", "page", "bvid"}
           {"type": "start" | "token" | "citations" | "done" | "error", "stream": "summary"|"answer"|"comments", ...}
           {"type": "cancelled", "stream": "answer"|"summary"|"comments"|null}

The socket is always accepted first, then closed with 4401 when nobody is signed in (or the
session expired) and 4404 when the part does not exist: a close before accepting would reach
the browser as a failed handshake (HTTP 403), without the code.

`cancel` stops every running stream and is acknowledged once per stream it stopped with
`{"type": "cancelled", "stream": <name>}`, sent after that stream's last frame; when nothing was
running, with `{"type": "cancelled", "stream": null}`.

Every request goes through the generation gate (chat.gate); its errors, and a stream's, become
`{"type": "error", "stream", "code", "message", **details}` frames (over quota: `limit` and
`retry_after`), in the socket's language: the `django_language` cookie, else Accept-Language,
else Chinese. Frames are validated like the API's bodies (chat.schemas): the same bad input is
the same `invalid_request`; an unknown `type` is `bad_request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from chat.errors import BAD_REQUEST, BUSY, INTERNAL_ERROR
from chat.gate import GateStream, generation_open
from chat.schemas import order_from_frame
from core.errors import AppError, language_of
from videos.models import VideoPart
from videos.progress import video_group_name
from videos.selectors import apart_get_or_404

logger = logging.getLogger(__name__)

PROGRESS_POLL_SECONDS = 1.0
CLOSE_SIGNED_OUT = 4401
CLOSE_NO_SUCH_PART = 4404
# The frame types that start a stream, and the stream each runs on.
STREAM_OF = {"ask": "answer", "summary": "summary", "regenerate": "summary", "comments": "comments"}
STREAMS = ("answer", "summary", "comments")
DJANGO_LANGUAGE = {"zh": "zh-hans", "en": "en"}


def socket_language(scope: dict) -> str:
    """ "zh" or "en": the page's language cookie, else the browser's Accept-Language, else zh."""
    cookie = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
    if cookie:
        return language_of(cookie)
    header = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
    for code, _quality in parse_accept_lang_header(header):
        if code.startswith(("zh", "en")):
            return language_of(code)
    return "zh"


class VideoPartConsumer(AsyncJsonWebsocketConsumer):
    part: VideoPart
    group: str

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Each socket gets its own thread for database calls, so sockets do not wait on each other,
        and renders everything (errors, progress) in its own language."""
        async with ThreadSensitiveContext():
            with translation.override(DJANGO_LANGUAGE[socket_language(scope)]):
                try:
                    await super().__call__(scope, receive, send)
                finally:
                    await aclose_old_connections()

    async def connect(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self.language = socket_language(self.scope)
        await self.accept()  # first: a close code sent before accepting never reaches the browser
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT, reason="not signed in")
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            part = await apart_get_or_404(bvid=kwargs["bvid"], page=kwargs["page"])
        except AppError:
            await self.close(code=CLOSE_NO_SUCH_PART, reason="no such part")
            return
        finally:
            await aclose_old_connections()
        self.part = part
        self.group = video_group_name(part.video.bvid)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "progress", **part.progress_dict()})
        if part.is_in_progress:
            self.tasks["progress"] = asyncio.create_task(self.watch_progress())

    async def disconnect(self, code: int) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not hasattr(self, "part"):
            return  # closed in connect; frames still in flight are dropped
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cancel":
            await self.cancel_streams()
            return
        stream = STREAM_OF.get(kind) if isinstance(kind, str) else None
        if stream is None:
            await self.send_error(AppError(BAD_REQUEST, reason=f"type={kind!r}"), stream=None)
            return
        if self.running(stream):
            await self.send_error(AppError(BUSY), stream=stream)
            return
        try:
            order = order_from_frame(kind, {key: value for key, value in content.items() if key != "type"})
            events = await generation_open(
                user=self.scope["user"], bvid=self.part.video.bvid, page=self.part.page, order=order
            )
        except AppError as exc:
            await aclose_old_connections()
            await self.send_error(exc, stream=stream)
            return
        self.tasks[stream] = asyncio.create_task(self.forward(stream, events))

    def running(self, stream: str) -> bool:
        task = self.tasks.get(stream)
        return task is not None and not task.done()

    async def cancel_streams(self) -> None:
        """Stop the running streams, then acknowledge each (or once with stream null)."""
        cancelled = [stream for stream in STREAMS if self.running(stream)]
        for stream in cancelled:
            self.tasks[stream].cancel()
        for stream in cancelled:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.tasks[stream]
        for stream in cancelled or [None]:
            await self.send_json({"type": "cancelled", "stream": stream})

    async def forward(self, stream: str, events: GateStream) -> None:
        """Send the stream's events as frames (rendered in the socket's language: see __call__)."""
        try:
            async for event in events:
                await self.send_json({**event, "stream": stream})
        except AppError as exc:
            await self.send_error(exc, stream=stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the %s stream failed", stream)
            await self.send_error(AppError(INTERNAL_ERROR), stream=stream)
        finally:
            await events.aclose()
            await aclose_old_connections()

    async def send_error(self, error: AppError, *, stream: str | None) -> None:
        rendered = error.as_dict(self.language)
        frame = {"type": "error", "stream": stream, "code": rendered["code"], "message": rendered["message"]}
        await self.send_json({**rendered["details"], **frame})

    async def ingest_progress(self, event: dict) -> None:
        """From the video's group (other processes with REDIS_URL, or this one)."""
        if event.get("page") == self.part.page:
            await self.send_progress({key: value for key, value in event.items() if key != "type"})

    async def watch_progress(self) -> None:
        """Follow the part's row, for a worker in another process with the in-memory layer."""
        while True:
            await asyncio.sleep(PROGRESS_POLL_SECONDS)
            part = await VideoPart.objects.select_related("video").aget(pk=self.part.pk)
            await aclose_old_connections()
            await self.send_progress(part.progress_dict())
            if not part.is_in_progress:
                return

    async def send_progress(self, progress: dict) -> None:
        key = (progress.get("stage"), progress.get("percent"), progress.get("error"))
        if key == getattr(self, "last_progress", None):
            return
        self.last_progress = key
        await self.send_json({"type": "progress", **progress})

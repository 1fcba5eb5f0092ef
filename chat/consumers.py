"""The video page's websocket: ingestion progress, the streamed summary and chat, on one socket.

Protocol (JSON frames; see README):
  client → {"type": "ask", "question", "conversation_id"?, "language"?}
           {"type": "summary" | "regenerate", "language"?, "style"?}  (style: chat.styles)
           {"type": "comments", "tone"?, "language"?}  {"type": "cancel"}
  server → {"type": "progress", "stage", "percent", "error", "page", "bvid"}
           {"type": "start" | "token" | "citations" | "done" | "error", "stream": "summary"|"answer"|"comments", ...}
           {"type": "cancelled", "stream": "answer"|"summary"|"comments"|null}

The socket is always accepted first, then closed with 4401 when nobody is signed in (or the
session expired) and 4404 when the part does not exist: a close before accepting would reach
the browser as a failed handshake (HTTP 403), without the code.

With the TOKEN_FRAME_WINDOW_MS setting, a stream's text tokens that come within it of the stream's
last frame share the next `token` frame (its `text` is theirs, in order); see TokenFrames.

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
import json
import logging
import weakref
from typing import Any

from channels.db import aclose_old_connections, database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chat.errors import BAD_REQUEST, BUSY, INTERNAL_ERROR
from chat.gate import GateStream, generation_open
from chat.schemas import order_from_frame
from core import metrics
from core.errors import AppError
from core.websocket_language import SocketInItsOwnLanguage, socket_language
from videos.models import VideoPart
from videos.progress import video_group_name
from videos.selectors import part_get_or_404

logger = logging.getLogger(__name__)

PROGRESS_POLL_SECONDS = 1.0
CLOSE_NO_SUCH_PART = 4404
# The frame types that start a stream, and the stream each runs on.
STREAM_OF = {"ask": "answer", "summary": "summary", "regenerate": "summary", "comments": "comments"}
STREAMS = ("answer", "summary", "comments")
# TOKEN_FRAME_WINDOW_MS (TokenFrames): at 200 concurrent answers on 2 cores a 15 ms window cut the
# frames ~3x and the CPU per answer ~8%, but raised the p99 added gap by ~70 ms (issue 12).
TOKEN_KEYS = {"type", "text"}
# The streams running on this process's sockets: a server stopping gracefully waits for them
# (chatbili_site.supervisor_daphne), then cancels them, which saves them as interrupted.
RUNNING_STREAMS: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()


class TokenFrames:
    """One stream's text tokens as websocket frames, coalesced when they come close together.

    A token arriving TOKEN_FRAME_WINDOW_MS or more after the stream's last frame goes out at
    once (a first token, or tokens at an LLM's usual pace, are never held back). One arriving
    sooner waits for the end of that window and goes out with any that follow it, as one
    `{"type": "token", "text", "stream"}` frame carrying their text in order: under load, when
    several tokens are ready at once, a socket gets one frame instead of many.
    """

    def __init__(self, consumer: VideoPartConsumer, stream: str) -> None:
        self.consumer = consumer
        self.prefix = '{"type":"token","text":'
        self.suffix = f',"stream":{json.dumps(stream)}}}'
        self.held: list[str] = []
        self.window = settings.TOKEN_FRAME_WINDOW_MS / 1000
        self.sent_at = -self.window
        self.timer: asyncio.TimerHandle | None = None
        self.due: asyncio.Task | None = None  # the flush the timer started

    async def add(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        if not self.held and loop.time() - self.sent_at >= self.window:
            await self._send(text)
            return
        self.held.append(text)
        if self.timer is None:
            self.timer = loop.call_at(self.sent_at + self.window, self._window_ended)

    def _window_ended(self) -> None:
        self.timer = None
        self.due = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        """Send the held tokens now, as one frame."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.held:
            text = "".join(self.held)
            self.held.clear()
            await self._send(text)

    async def _send(self, text: str) -> None:
        self.sent_at = asyncio.get_running_loop().time()
        await self.consumer.send_text(self.prefix + json.dumps(text, ensure_ascii=False) + self.suffix)


class VideoPartConsumer(SocketInItsOwnLanguage, AsyncJsonWebsocketConsumer):
    part: VideoPart
    group: str

    async def accept_signed_in(self) -> Any:
        """The socket's streams and language set up, then core's accept-then-check-sign-in step."""
        self.tasks: dict[str, asyncio.Task] = {}
        self.language = socket_language(self.scope)
        return await super().accept_signed_in()

    async def connect(self) -> None:
        if await self.accept_signed_in() is None:
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:  # one trip to the database thread, which then gives its connection back to the pool
            part = await database_sync_to_async(part_get_or_404)(bvid=kwargs["bvid"], page=kwargs["page"])
        except AppError:
            await self.close(code=CLOSE_NO_SUCH_PART, reason="no such part")
            return
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
        RUNNING_STREAMS.add(self.tasks[stream])

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
        """Send the stream's events as frames (rendered in the socket's language: see __call__);
        text tokens through `TokenFrames`, everything else at once, after the tokens before it."""
        tokens = TokenFrames(self, stream)
        timer, outcome = metrics.StreamTimer(stream), "cancelled"  # chatbili_websocket_stream_* (issue 15)
        try:
            async for event in events:
                if event["type"] == "token" and event.keys() == TOKEN_KEYS:
                    timer.first_token()
                    await tokens.add(event["text"])
                else:
                    await tokens.flush()
                    await self.send_json({**event, "stream": stream})
            outcome = "done"
        except AppError as exc:
            outcome = "error"
            await tokens.flush()
            await self.send_error(exc, stream=stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            outcome = "error"
            logger.exception("the %s stream failed", stream)
            await tokens.flush()
            await self.send_error(AppError(INTERNAL_ERROR), stream=stream)
        finally:
            timer.end(outcome)
            await tokens.flush()  # a cancelled stream's last tokens, before its acknowledgement
            await events.aclose()
            await aclose_old_connections()

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        """Compact UTF-8 JSON: a Chinese character is 3 bytes on the wire instead of a 6-byte escape."""
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"))

    async def send_text(self, text: str) -> None:
        """One already-encoded text frame, straight to the server."""
        await self.base_send({"type": "websocket.send", "text": text})

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
            part = await database_sync_to_async(VideoPart.objects.select_related("video").get)(pk=self.part.pk)
            await self.send_progress(part.progress_dict())
            if not part.is_in_progress:
                return

    async def send_progress(self, progress: dict) -> None:
        key = (progress.get("stage"), progress.get("percent"), progress.get("error"))
        if key == getattr(self, "last_progress", None):
            return
        self.last_progress = key
        await self.send_json({"type": "progress", **progress})

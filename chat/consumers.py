"""The video page's websocket: ingestion progress, the streamed summary and chat, on one socket.

Protocol (JSON frames; see README):
  client → {"type": "ask", "question", "conversation_id"?, "language"?}
           {"type": "summary", "language"?}  {"type": "regenerate", "language"?}  {"type": "cancel"}
           {"type": "comments", "tone", "language"?}
  server → {"type": "progress", "stage", "percent", "error", "page", "bvid"}
           {"type": "start" | "token" | "citations" | "done" | "error", "stream": "summary"|"answer"|"comments", ...}
The consumer only routes: the work is in chat.conversations and chat.summaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chat.comments import comment_drafts_stream
from chat.conversations import answer_stream
from chat.llm import GenerationError
from chat.quotas import QuotaExceeded, aquota_check, aquota_check_for_summary
from chat.summaries import summary_stream
from videos.models import VideoPart
from videos.progress import video_group_name

logger = logging.getLogger(__name__)

PROGRESS_POLL_SECONDS = 1.0
LANGUAGES = ("zh", "en", "auto")


class VideoPartConsumer(AsyncJsonWebsocketConsumer):
    part: VideoPart
    group: str

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Each socket gets its own thread for database calls, so sockets do not wait on each other."""
        async with ThreadSensitiveContext():
            try:
                await super().__call__(scope, receive, send)
            finally:
                await aclose_old_connections()

    async def connect(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        part = (
            await VideoPart.objects.select_related("video")
            .filter(video__bvid=kwargs["bvid"], page=kwargs["page"])
            .afirst()
        )
        if part is None:
            await self.close(code=4404)
            return
        self.part = part
        self.group = video_group_name(part.video.bvid)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await aclose_old_connections()
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
        kind = content.get("type") if isinstance(content, dict) else None
        language = content.get("language", "zh") if isinstance(content, dict) else "zh"
        if language not in LANGUAGES:
            language = "zh"
        if kind == "ask":
            if not await self.over_quota("answer"):
                await self.start_answer(content, language)
        elif kind in ("summary", "regenerate"):
            if await self.over_quota("summary", language=language, regenerate=kind == "regenerate"):
                return
            events = summary_stream(self.part, language, self.scope["user"], regenerate=kind == "regenerate")
            await self.start_stream("summary", events)
        elif kind == "comments":
            if await self.over_quota("comments"):
                return
            tone = str(content.get("tone") or "认真")[:20]
            events = comment_drafts_stream(self.part, tone=tone, user=self.scope["user"], language=language)
            await self.start_stream("comments", events)
        elif kind == "cancel":
            for name in ("answer", "summary", "comments"):
                if task := self.tasks.get(name):
                    task.cancel()
        else:
            await self.send_error("bad_request", "未知的消息类型 / Unknown message type", stream=None)

    async def over_quota(self, stream: str, *, language: str = "zh", regenerate: bool = False) -> bool:
        """Send an `error` frame (code quota_exceeded, retry_after) when the user is over quota."""
        user = self.scope["user"]
        try:
            if stream == "summary":
                await aquota_check_for_summary(user, part_id=self.part.pk, language=language, regenerate=regenerate)
            else:
                await aquota_check(user)
        except QuotaExceeded as exc:
            await aclose_old_connections()
            frame = {"type": "error", "code": exc.code, "message": exc.message, "stream": stream}
            await self.send_json({**frame, "limit": exc.limit, "retry_after": exc.retry_after_seconds})
            return True
        return False

    async def start_answer(self, content: dict, language: str) -> None:
        question = content.get("question")
        conversation_id = content.get("conversation_id")
        if not isinstance(question, str) or not question.strip() or len(question) > 2000:
            await self.send_error("bad_request", "问题需要是 1–2000 字的文本 / Ask 1–2000 characters", stream="answer")
            return
        if conversation_id is not None and not isinstance(conversation_id, int):
            await self.send_error("bad_request", "conversation_id 需要是整数 / must be an integer", stream="answer")
            return
        self.part = await VideoPart.objects.select_related("video").aget(pk=self.part.pk)
        events = answer_stream(
            user=self.scope["user"],
            part=self.part,
            question=question,
            conversation_id=conversation_id,
            language=language,
        )
        await self.start_stream("answer", events)

    async def start_stream(self, stream: str, events: AsyncIterator[dict]) -> None:
        running = self.tasks.get(stream)
        if running is not None and not running.done():
            await events.aclose()
            await self.send_error("busy", "上一个请求还在进行中 / The previous request is still running", stream=stream)
            return
        self.tasks[stream] = asyncio.create_task(self.forward(stream, events))

    async def forward(self, stream: str, events: AsyncIterator[dict]) -> None:
        try:
            async for event in events:
                await self.send_json({**event, "stream": stream})
        except GenerationError as exc:
            await self.send_error(exc.code, exc.message, stream=stream)
        except asyncio.CancelledError:
            await events.aclose()
            raise
        except Exception:
            logger.exception("the %s stream failed", stream)
            await self.send_error("internal_error", "内部错误，请重试 / Internal error, please retry", stream=stream)
        finally:
            await aclose_old_connections()

    async def send_error(self, code: str, message: str, *, stream: str | None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "stream": stream})

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

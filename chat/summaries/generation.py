"""The one generation of a summary: a task that produces the text, publishes every event to the
channel-layer group `summary.<id>`, saves the text as it grows and keeps the row's heartbeat.
It runs to its end even when every request waiting for it has gone, so tokens paid for are kept.
Cancelled (the process stopping: Ctrl-C on `manage.py summarize`, a server's graceful stop) or
interrupted, it saves what it had as interrupted (chat.interruptions says why) through the same
path as a failure mid-stream, so its row never stays "generating" until the stale takeover."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat.chapters import part_end_ms
from chat.errors import INTERNAL_ERROR, NO_TRANSCRIPT, SUMMARY_INTERRUPTED
from chat.highlights import danmaku_highlights
from chat.interruptions import interruption
from chat.llm import ChatStream, LLMError, chat_complete
from chat.models import Summary, UsageRecord
from chat.selectors import part_transcript
from chat.services.summaries import (
    SummaryOutcome,
    summary_complete,
    summary_fail,
    summary_save_sections,
    summary_save_text,
)
from chat.summaries.chaptering import StructuredStream, summary_chapters
from chat.summaries.reduce import write_with_llm
from chat.summaries.rendering import extractive_text, highlights_section, key_points
from chat.timestamps import StreamingTimestampFixer, TimestampChecker
from core.database_lanes import context_outside_lanes
from core.errors import AppError
from core.http import openai_client

logger = logging.getLogger(__name__)

# Generation tasks are kept here so they are not garbage-collected while they run.
_RUNNING_TASKS: set[asyncio.Task] = set()


def group_name(summary_id: int) -> str:
    return f"summary.{summary_id}"


def generation_start(summary_id: int, generation_id: str, user_id: int | None) -> asyncio.Task:
    """Start the generation task the caller leads (it outlives the caller, so its database calls
    are not bound to the caller's socket: core.database_lanes)."""
    generation = _Generation(summary_id, generation_id, user_id).run()
    task = asyncio.get_running_loop().create_task(generation, context=context_outside_lanes())
    _RUNNING_TASKS.add(task)
    task.add_done_callback(_RUNNING_TASKS.discard)
    return task


def generations_running() -> list[asyncio.Task]:
    """The generation tasks of this process that have not ended (a stopping server waits for them)."""
    return [task for task in _RUNNING_TASKS if not task.done()]


class _Superseded(Exception):
    """Another request took this generation over; stop without saving."""


class _Generation:
    """Produce one summary: publish its events, save its text as it grows, keep the heartbeat."""

    def __init__(self, summary_id: int, generation_id: str, user_id: int | None) -> None:
        self.summary_id = summary_id
        self.generation_id = generation_id
        self.user_id = user_id
        self.layer = get_channel_layer()
        self.outcome = SummaryOutcome(content="", mode="")
        self._saved_at = 0.0
        self.client: Any = None  # one LLM client for all the calls of this generation
        self.part_end_ms = 0  # where the part ends: its chapters and sections tile [0, part_end_ms]
        self.sections: list[dict] = []  # a long part's sections, as sent (chat.summaries.sections)

    async def run(self) -> None:
        heartbeat = asyncio.ensure_future(self._heartbeat())
        try:
            summary = await Summary.objects.select_related("part").aget(pk=self.summary_id)
            async with contextlib.AsyncExitStack() as stack:
                if not summary.offline:
                    self.client = await stack.enter_async_context(openai_client())
                await self._produce(summary)
            if not await sync_to_async(summary_complete)(
                summary_id=self.summary_id, generation_id=self.generation_id, outcome=self.outcome
            ):
                raise _Superseded
            await self.publish({"type": "done"})
        except (asyncio.CancelledError, KeyboardInterrupt):
            await self._fail(interruption(SUMMARY_INTERRUPTED), interrupted=True)
            raise
        except _Superseded:
            logger.info("summary %s: generation %s was taken over", self.summary_id, self.generation_id)
        except AppError as exc:
            await self._fail(exc)
        except Exception:
            logger.exception("summary %s failed", self.summary_id)
            await self._fail(AppError(INTERNAL_ERROR))
        finally:
            heartbeat.cancel()

    async def _fail(self, error: AppError, *, interrupted: bool = False) -> None:
        """End the run as failed, or interrupted when it had text (or was cut off): the text is kept."""
        status = await sync_to_async(summary_fail)(
            summary_id=self.summary_id,
            generation_id=self.generation_id,
            outcome=self.outcome,
            error=error,
            interrupted=interrupted or bool(self.outcome.content),
        )
        if status is not None:  # "complete": a failed regeneration put the previous version back
            await self.publish({"type": "done" if status == Summary.Status.COMPLETE else "error"})

    async def _produce(self, summary: Summary) -> None:
        transcript = await sync_to_async(part_transcript)(part_id=summary.part_id)
        if not transcript.passages:
            raise AppError(NO_TRANSCRIPT)
        highlights = danmaku_highlights(summary.part.danmaku)
        checker = TimestampChecker.from_cues(transcript.cues)
        self.part_end_ms = part_end_ms(duration_seconds=summary.part.duration_seconds, transcript_end_ms=checker.end_ms)
        if summary.offline:
            self.outcome.mode = "extractive"
            await self.emit(await asyncio.to_thread(extractive_text, transcript, summary.language))
        else:
            await write_with_llm(self, transcript, summary.language, highlights, checker, style=summary.style)
        summary_text = self.outcome.content
        await self.emit(highlights_section(self.outcome.content, highlights, summary.language))
        self.outcome.key_points = key_points(self.outcome.content, summary.language, checker)
        self.outcome.highlights = [highlight.to_dict() for highlight in highlights]
        self.outcome.chapters = await summary_chapters(
            self,
            transcript=transcript,
            checker=checker,
            uploader_chapters=summary.part.uploader_chapters,
            summary_text=summary_text,
            key_points=self.outcome.key_points,
            language=summary.language,
            offline=summary.offline,
        )

    async def stream_text(self, messages: list[dict], purpose: str, checker: TimestampChecker) -> None:
        """Stream one LLM call's text out, timestamps fixed; the text so far is kept if it fails."""
        stream = ChatStream(messages, purpose=purpose, user=self.user_id, client=self.client)
        fixer = StreamingTimestampFixer(checker)
        try:
            async for delta in stream:
                await self.emit(fixer.feed(delta))
        except LLMError:
            await self.emit(fixer.flush())
            raise
        finally:
            if stream.usage is not None:
                self.outcome.usage.append(stream.usage)
        await self.emit(fixer.flush())
        if not self.outcome.content.endswith("\n"):
            await self.emit("\n")

    async def complete(self, messages: list[dict]) -> ChatStream:
        """One map call, run to its end; its usage is counted."""
        stream = await chat_complete(
            messages, purpose=UsageRecord.Purpose.SUMMARY_MAP, user=self.user_id, client=self.client
        )
        if stream.usage is not None:
            self.outcome.usage.append(stream.usage)
        return stream

    async def complete_structured(self, messages: list[dict], response_format: dict) -> ChatStream:
        """One structured-output call (the chapters of a short part), run to its end; usage counted."""
        stream = StructuredStream(
            messages,
            purpose=UsageRecord.Purpose.SUMMARY_CHAPTERS,  # part of the summary's request: costs tokens only
            user=self.user_id,
            client=self.client,
            response_format=response_format,
        )
        try:
            async for _ in stream:
                pass
        finally:
            if stream.usage is not None:
                self.outcome.usage.append(stream.usage)
        return stream

    async def section_done(self, section: dict) -> None:
        """A long part's next section, in order: saved (for late arrivals), then published."""
        self.sections.append({key: value for key, value in section.items() if key != "type"})
        if not await sync_to_async(summary_save_sections)(
            summary_id=self.summary_id, generation_id=self.generation_id, sections=self.sections
        ):
            raise _Superseded
        await self.publish(section)

    async def emit(self, text: str) -> None:
        """Add text: publish it at its offset, and save every SUMMARY_SAVE_INTERVAL_SECONDS."""
        if not text:
            return
        offset = len(self.outcome.content)
        self.outcome.content += text
        await self.publish({"type": "token", "text": text, "offset": offset})
        if time.monotonic() - self._saved_at >= float(settings.SUMMARY_SAVE_INTERVAL_SECONDS):
            await self._save_text()

    async def publish(self, event: dict) -> None:
        message = {"type": "summary.event", "generation": self.generation_id, "event": event}
        try:
            await self.layer.group_send(group_name(self.summary_id), message)
        except Exception:
            logger.warning("summary %s: could not publish an event", self.summary_id, exc_info=True)
        await asyncio.sleep(0)  # let followers in this process read it

    async def _save_text(self) -> None:
        self._saved_at = time.monotonic()
        if not await sync_to_async(summary_save_text)(
            summary_id=self.summary_id, generation_id=self.generation_id, content=self.outcome.content
        ):
            raise _Superseded

    async def _heartbeat(self) -> None:
        interval = max(0.05, min(10.0, float(settings.SUMMARY_STALE_SECONDS) / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._save_text()
            except _Superseded:
                return
            except Exception:
                logger.warning("summary %s: heartbeat failed", self.summary_id, exc_info=True)

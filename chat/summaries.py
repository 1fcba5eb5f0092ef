"""Summaries: streamed, cached per (part, language, prompt version, model), generated once.

    async for event in summary_stream(part, language="zh", user=request.user):
        ...  # forward to a websocket, an SSE response or the terminal

Events (plain dicts, JSON-ready):
- {"type": "start", "summary_id", "cached", "offline", "model", "language", "prompt_version"}
- {"type": "progress", "stage": "map", "done": k, "total": n}  (long parts, while sections are read)
- {"type": "token", "text": "…"}  the summary's Markdown, in order; a cache hit sends it whole
- {"type": "reset"}  the generation was restarted (a stale one taken over): drop the text so far
- {"type": "done", "cached": bool, "summary": Summary.to_dict()}
- {"type": "error", "code", "message", "status": "failed"|"interrupted", "content": partial text}

How it runs: the request that creates the Summary row (or finds it failed, interrupted, stale
or asked to regenerate) becomes the leader and starts one generation task. That task publishes
every event to the channel-layer group `summary.<id>` and saves the text as it grows; every
request, the leader's included, follows that group. A request that arrives mid-generation gets
the text saved so far, then the rest. The task runs to its end even when the requests that
wait for it go away, so the tokens paid for are cached. A generation whose heartbeat stops
for SUMMARY_STALE_SECONDS is taken over by the next request or a waiting follower.

Whole-part coverage: a transcript within SUMMARY_SINGLE_PASS_TOKENS goes to the LLM in one
pass. A longer one is cut into sections of at most SUMMARY_SECTION_TOKENS; each section is
summarized (SUMMARY_MAP_CONCURRENCY at a time) with its time range, and the notes are reduced
into the summary. Every passage of the transcript is sent exactly once in the map phase.
Timestamps are corrected to real chunk starts as the text streams (chat.timestamps); the
高能时刻 section comes from the danmaku (chat.highlights), never from the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.highlights import Highlight, danmaku_highlights, highlights_markdown, highlights_prompt_text
from chat.llm import (
    ChatStream,
    GenerationError,
    LLMError,
    LLMUsage,
    chat_complete,
    user_id_of,
)
from chat.models import Summary, UsageRecord
from chat.offline import extractive_markdown, extractive_summary
from chat.prompts import load_prompt
from chat.selectors import PartTranscript, Passage, part_transcript
from chat.summary_keys import SUMMARY_PROMPT_VERSION, SummaryKey, summary_key
from chat.timestamps import StreamingTimestampFixer, TimestampChecker, format_timestamp, timestamped_lines
from core.http import openai_client
from core.tokens import count_tokens
from videos.models import VideoPart

logger = logging.getLogger(__name__)

LANGUAGE_INSTRUCTIONS = {
    "zh": "用简体中文输出。",
    "en": "Write the summary in English (keep the section headings exactly as given).",
    "auto": "使用字幕本身的语言输出（字幕是英文就用英文，是中文就用中文）。",
}
# (abstract, key points, highlights) headings; each starts with the Chinese name parsers look for.
HEADINGS = {
    "zh": ("摘要", "要点", "高能时刻"),
    "auto": ("摘要", "要点", "高能时刻"),
    "en": ("摘要 Abstract", "要点 Key points", "高能时刻 Highlights"),
}
# Generation tasks are kept here so they are not garbage-collected while they run.
_RUNNING_TASKS: set[asyncio.Task] = set()


# --- Claiming the row -----------------------------------------------------------------------------


def _stale_after() -> timedelta:
    return timedelta(seconds=float(settings.SUMMARY_STALE_SECONDS))


def _is_stale(summary: Summary) -> bool:
    return summary.heartbeat_at is None or timezone.now() - summary.heartbeat_at > _stale_after()


PRESERVED_FIELDS = ("content", "mode", "key_points", "highlights", "llm_calls", "prompt_tokens", "completion_tokens")


def _restart(summary: Summary, user_id: int | None) -> None:
    """Make `summary` a fresh generation led by the caller (inside the row lock).

    A complete version being regenerated is kept in `previous` until the new one is done.
    """
    now = timezone.now()
    if summary.status == Summary.Status.COMPLETE and summary.content:
        summary.previous = {field: getattr(summary, field) for field in PRESERVED_FIELDS}
        summary.previous["completed_at"] = summary.completed_at.isoformat() if summary.completed_at else None
    summary.status = Summary.Status.GENERATING
    summary.generation_id = uuid.uuid4().hex
    summary.heartbeat_at = summary.started_at = now
    summary.content, summary.error_message, summary.mode = "", "", ""
    summary.key_points, summary.highlights = [], []
    summary.llm_calls = summary.prompt_tokens = summary.completion_tokens = 0
    summary.completed_at = None
    summary.requested_by_id = user_id
    summary.save()


def _older_than_transcript(summary: Summary) -> bool:
    """Whether the part was ingested again (new chunks) after this summary was made."""
    ingested_at = VideoPart.objects.filter(pk=summary.part_id).values_list("ingested_at", flat=True).first()
    return bool(ingested_at and summary.completed_at and summary.completed_at < ingested_at)


def summary_claim(*, key: SummaryKey, user_id: int | None, regenerate: bool = False) -> tuple[str, Summary]:
    """Decide this request's role under the row lock: "cached", "follow" or "lead".

    A finished summary older than the part's last ingestion is made again (the chunks changed).

    Two requests for a missing row both try to insert it; the unique constraint lets one win and
    the other waits for it, then finds it generating and follows.
    """
    with transaction.atomic():
        summary, created = Summary.objects.select_for_update().get_or_create(
            part_id=key.part_id,
            language=key.language,
            prompt_version=key.prompt_version,
            model=key.model,
            defaults={"offline": key.offline, "status": Summary.Status.GENERATING},
        )
        if not created and summary.status == Summary.Status.COMPLETE and not regenerate:
            if not _older_than_transcript(summary):
                return "cached", summary
        if not created and summary.status == Summary.Status.GENERATING and not _is_stale(summary):
            return "follow", summary
        _restart(summary, user_id)
        return "lead", summary


def summary_takeover(*, summary_id: int, generation_id: str, user_id: int | None) -> Summary | None:
    """Take over a generation whose heartbeat stopped; None when it is alive, finished or taken."""
    with transaction.atomic():
        summary = Summary.objects.select_for_update().get(pk=summary_id)
        if summary.generation_id != generation_id or summary.status != Summary.Status.GENERATING:
            return None
        if not _is_stale(summary):
            return None
        _restart(summary, user_id)
        return summary


# --- The stream every request reads -------------------------------------------------------------------


def group_name(summary_id: int) -> str:
    return f"summary.{summary_id}"


async def summary_stream(
    part: Any, language: str = "zh", user: Any = None, *, regenerate: bool = False
) -> AsyncIterator[dict]:
    """The events of a part's summary (see the module docstring). `part` is a VideoPart or its id."""
    part_id = part if isinstance(part, int) else part.pk
    user_id = user_id_of(user)
    key = summary_key(part_id=part_id, language=language)
    role, summary = await sync_to_async(summary_claim)(key=key, user_id=user_id, regenerate=regenerate)
    yield _start_event(summary, cached=role == "cached")
    if role == "cached":
        if summary.content:
            yield {"type": "token", "text": summary.content}
        yield {"type": "done", "cached": True, "summary": summary.to_dict()}
        return
    follower = _Follower(summary, user_id)
    async with follower.subscribed():
        if role == "lead":
            follower.start_generation(summary.generation_id)
        async for event in follower.events():
            yield event


def _start_event(summary: Summary, *, cached: bool) -> dict:
    return {
        "type": "start",
        "summary_id": summary.pk,
        "cached": cached,
        "offline": summary.offline,
        "model": summary.model,
        "language": summary.language,
        "prompt_version": summary.prompt_version,
    }


async def summary_get_or_generate(part: Any, language: str = "zh", user: Any = None) -> Summary:
    """Run `summary_stream` to its end and return the finished row; raises GenerationError."""
    summary_id = None
    async for event in summary_stream(part, language, user):
        if event["type"] == "start":
            summary_id = event["summary_id"]
        elif event["type"] == "error":
            raise GenerationError(event["code"], event["message"], event["message"])
    return await Summary.objects.aget(pk=summary_id)


class _Follower:
    """One request's view of a generation: group messages, with the database filling any gap."""

    def __init__(self, summary: Summary, user_id: int | None) -> None:
        self.summary_id = summary.pk
        self.generation_id = summary.generation_id
        self.user_id = user_id
        self.text = ""  # what this request has sent on
        self.layer = get_channel_layer()
        self.channel = ""
        self.task: asyncio.Task | None = None

    def subscribed(self) -> _Subscription:
        return _Subscription(self)

    def start_generation(self, generation_id: str) -> None:
        self.generation_id = generation_id
        self.task = asyncio.ensure_future(_Generation(self.summary_id, generation_id, self.user_id).run())
        _RUNNING_TASKS.add(self.task)
        self.task.add_done_callback(_RUNNING_TASKS.discard)

    async def events(self) -> AsyncIterator[dict]:
        summary = await Summary.objects.aget(pk=self.summary_id)
        async for event in self._catch_up(summary):
            yield event
            if event["type"] in ("done", "error"):
                return
        poll = min(1.0, float(settings.SUMMARY_STALE_SECONDS) / 3)
        while True:
            try:
                message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=poll)
            except TimeoutError:
                message = None
            events = self._on_message(message) if message else self._on_silence()
            async for event in events:
                yield event
                if event["type"] in ("done", "error"):
                    await self._wait_for_own_task()
                    return

    async def _catch_up(self, summary: Summary) -> AsyncIterator[dict]:
        """Text the database has beyond what was sent; then the end, if the run has ended.

        When the row belongs to another run, or its text no longer extends what was sent (and is
        not just behind it), the client is told to start over.
        """
        content = summary.content
        diverged = not content.startswith(self.text) and not self.text.startswith(content)
        if summary.generation_id != self.generation_id or diverged:
            self.generation_id = summary.generation_id
            if self.text:
                self.text = ""
                yield {"type": "reset"}
        if len(content) > len(self.text):
            yield {"type": "token", "text": content[len(self.text) :]}
            self.text = content
        if summary.status == Summary.Status.COMPLETE:
            yield {"type": "done", "cached": False, "summary": summary.to_dict()}
        elif summary.status != Summary.Status.GENERATING:
            yield _error_event(summary)

    async def _on_message(self, message: dict) -> AsyncIterator[dict]:
        if message.get("generation") != self.generation_id:
            return
        event = message["event"]
        if event["type"] == "token":
            async for token in self._token(event["offset"], event["text"]):
                yield token
        elif event["type"] == "progress":
            yield event
        else:  # done or error: the row is saved before either is published
            async for final in self._catch_up(await Summary.objects.aget(pk=self.summary_id)):
                yield final

    async def _token(self, offset: int, text: str) -> AsyncIterator[dict]:
        if offset > len(self.text):  # messages were dropped (a full channel): read what was saved
            deadline = time.monotonic() + 5.0
            while offset > len(self.text) and time.monotonic() < deadline:
                summary = await Summary.objects.aget(pk=self.summary_id)
                if summary.generation_id == self.generation_id and summary.content.startswith(self.text):
                    if len(summary.content) > len(self.text):
                        yield {"type": "token", "text": summary.content[len(self.text) :]}
                        self.text = summary.content
                if offset > len(self.text):
                    await asyncio.sleep(0.05)
        fresh = text[len(self.text) - offset :] if offset <= len(self.text) else ""
        if fresh:
            self.text += fresh
            yield {"type": "token", "text": fresh}

    async def _on_silence(self) -> AsyncIterator[dict]:
        """No message for a while: the run may have ended unheard, moved on, or died."""
        summary = await Summary.objects.aget(pk=self.summary_id)
        if summary.status == Summary.Status.GENERATING and summary.generation_id == self.generation_id:
            if not _is_stale(summary):
                return
            taken = await sync_to_async(summary_takeover)(
                summary_id=self.summary_id, generation_id=self.generation_id, user_id=self.user_id
            )
            if taken is not None:
                logger.warning("summary %s: generation %s went stale; restarting", self.summary_id, self.generation_id)
                self.text = ""
                self.start_generation(taken.generation_id)
                yield {"type": "reset"}
            return
        async for event in self._catch_up(summary):
            yield event

    async def _wait_for_own_task(self) -> None:
        if self.task is not None:
            await asyncio.shield(self.task)


class _Subscription:
    """`async with`: the follower's channel is in the summary's group (added before anything runs)."""

    def __init__(self, follower: _Follower) -> None:
        self.follower = follower

    async def __aenter__(self) -> _Follower:
        follower = self.follower
        if follower.layer is None:
            raise GenerationError("no_channel_layer", "未配置 CHANNEL_LAYERS", "CHANNEL_LAYERS is not configured")
        follower.channel = await follower.layer.new_channel()
        await follower.layer.group_add(group_name(follower.summary_id), follower.channel)
        return follower

    async def __aexit__(self, *exc_info: object) -> None:
        follower = self.follower
        await follower.layer.group_discard(group_name(follower.summary_id), follower.channel)


def _error_event(summary: Summary) -> dict:
    return {
        "type": "error",
        "code": "summary_" + summary.status,
        "message": summary.error_message or summary.status,
        "status": summary.status,
        "content": summary.content,
    }


# --- The one generation ---------------------------------------------------------------------------


class _Superseded(Exception):
    """Another request took this generation over; stop without saving."""


class _Generation:
    """Produce one summary: publish its events, save its text as it grows, keep the heartbeat."""

    def __init__(self, summary_id: int, generation_id: str, user_id: int | None) -> None:
        self.summary_id = summary_id
        self.generation_id = generation_id
        self.user_id = user_id
        self.layer = get_channel_layer()
        self.text = ""
        self.usage: list[LLMUsage] = []
        self.mode = ""
        self._saved_at = 0.0
        self.client: Any = None  # one LLM client for all the calls of this generation

    async def run(self) -> None:
        heartbeat = asyncio.ensure_future(self._heartbeat())
        try:
            summary = await Summary.objects.select_related("part").aget(pk=self.summary_id)
            async with contextlib.AsyncExitStack() as stack:
                if not summary.offline:
                    self.client = await stack.enter_async_context(openai_client())
                fields = await self._produce(summary)
            await self._finish(Summary.Status.COMPLETE, **fields)
            await self._publish({"type": "done"})
        except _Superseded:
            logger.info("summary %s: generation %s was taken over", self.summary_id, self.generation_id)
        except (LLMError, GenerationError) as exc:
            await self._fail(exc.message, interrupted=bool(self.text))
        except Exception as exc:
            logger.exception("summary %s failed", self.summary_id)
            await self._fail(f"{type(exc).__name__}: {exc}", interrupted=bool(self.text))
        finally:
            heartbeat.cancel()

    async def _fail(self, message: str, *, interrupted: bool) -> None:
        status = Summary.Status.INTERRUPTED if interrupted else Summary.Status.FAILED
        try:
            previous = await Summary.objects.filter(pk=self.summary_id).values_list("previous", flat=True).aget()
            if previous:
                await self._restore(previous, message)
                await self._publish({"type": "done"})
                return
            await self._finish(status, error_message=message[:2000])
            await self._publish({"type": "error"})
        except _Superseded:
            pass

    async def _restore(self, previous: dict, message: str) -> None:
        """A failed regeneration puts the last complete version back, with the reason noted."""
        completed_at = previous.get("completed_at")
        await self._save(
            status=Summary.Status.COMPLETE,
            completed_at=datetime.fromisoformat(completed_at) if completed_at else timezone.now(),
            error_message=f"重新生成失败，保留上一版 / Regeneration failed, the previous version is kept: {message}"[
                :2000
            ],
            previous={},
            **{field: previous[field] for field in PRESERVED_FIELDS if field in previous},
        )

    async def _produce(self, summary: Summary) -> dict:
        transcript = await sync_to_async(part_transcript)(part_id=summary.part_id)
        if not transcript.passages:
            raise GenerationError("no_transcript", "这个视频还没有字幕", "This part has no transcript yet")
        highlights = danmaku_highlights(summary.part.danmaku)
        checker = TimestampChecker.from_spans(transcript.spans)
        _, points_heading, highlights_heading = HEADINGS[summary.language]
        if summary.offline:
            await self._extractive(transcript, summary.language)
        else:
            await self._with_llm(transcript, summary.language, highlights, checker)
        if highlights:
            separator = "" if self.text.endswith("\n\n") else "\n" if self.text.endswith("\n") else "\n\n"
            english = summary.language == "en"
            await self._emit(separator + highlights_markdown(highlights, highlights_heading, english=english))
        return {
            "content": self.text,
            "key_points": timestamped_lines(self.text, points_heading.split()[0], checker),
            "highlights": [highlight.to_dict() for highlight in highlights],
        }

    async def _extractive(self, transcript: PartTranscript, language: str) -> None:
        self.mode = "extractive"
        extract = await asyncio.to_thread(extractive_summary, transcript.passages)
        abstract_heading, points_heading, _ = HEADINGS[language]
        markdown = extractive_markdown(
            extract, abstract_heading=abstract_heading, points_heading=points_heading, english=language == "en"
        )
        await self._emit(markdown)

    async def _with_llm(
        self, transcript: PartTranscript, language: str, highlights: list[Highlight], checker: TimestampChecker
    ) -> None:
        abstract_heading, points_heading, _ = HEADINGS[language]
        values = {
            "title": transcript.title,
            "part_title": transcript.part_title or transcript.title,
            "language_instruction": LANGUAGE_INSTRUCTIONS[language],
            "abstract_heading": abstract_heading,
            "points_heading": points_heading,
            "highlights": highlights_prompt_text(highlights),
        }
        if transcript.tokens <= int(settings.SUMMARY_SINGLE_PASS_TOKENS):
            self.mode = "single"
            messages = load_prompt("summary", SUMMARY_PROMPT_VERSION).messages(
                transcript=passages_text(transcript.passages), **values
            )
            await self._stream_llm(messages, UsageRecord.Purpose.SUMMARY, checker)
            return
        self.mode = "map_reduce"
        notes = await self._map(transcript, language, checker)
        messages = load_prompt("summary_reduce", SUMMARY_PROMPT_VERSION).messages(notes=notes_text(notes), **values)
        await self._stream_llm(messages, UsageRecord.Purpose.SUMMARY_REDUCE, checker)

    async def _stream_llm(self, messages: list[dict], purpose: str, checker: TimestampChecker) -> None:
        stream = ChatStream(messages, purpose=purpose, user=self.user_id, client=self.client)
        fixer = StreamingTimestampFixer(checker)
        try:
            async for delta in stream:
                await self._emit(fixer.feed(delta))
        except LLMError:
            await self._emit(fixer.flush())
            raise
        finally:
            if stream.usage is not None:
                self.usage.append(stream.usage)
        await self._emit(fixer.flush())
        if not self.text.endswith("\n"):
            await self._emit("\n")

    # --- Map phase ---

    async def _map(self, transcript: PartTranscript, language: str, checker: TimestampChecker) -> list[Note]:
        """Notes on every section (concurrently, bounded), collapsed until they fit one pass."""
        budget = int(settings.SUMMARY_SINGLE_PASS_TOKENS)
        section_tokens = int(settings.SUMMARY_SECTION_TOKENS)
        sections = [
            Note(group[0].start_ms, group[-1].end_ms, passages_text(group))
            for group in budget_sections(transcript.passages, section_tokens)
        ]
        notes = await self._notes(sections, transcript.title, language, checker)
        while sum(count_tokens(note.text) for note in notes) > budget and len(notes) > 1:
            groups = budget_sections(notes, section_tokens)
            if len(groups) >= len(notes):
                break  # each note alone is past the budget: reduce what there is
            merged = [Note(group[0].start_ms, group[-1].end_ms, notes_text(group)) for group in groups]
            notes = await self._notes(merged, transcript.title, language, checker)
        return notes

    async def _notes(self, sections: list[Note], title: str, language: str, checker: TimestampChecker) -> list[Note]:
        semaphore = asyncio.Semaphore(int(settings.SUMMARY_MAP_CONCURRENCY))
        done = 0
        await self._publish({"type": "progress", "stage": "map", "done": 0, "total": len(sections)})

        async def note(section: Note) -> Note:
            nonlocal done
            messages = load_prompt("summary_map", SUMMARY_PROMPT_VERSION).messages(
                title=title,
                section_range=f"{format_timestamp(section.start_ms)}–{format_timestamp(section.end_ms)}",
                language_instruction=LANGUAGE_INSTRUCTIONS[language],
                transcript=section.text,
            )
            async with semaphore:
                stream = await self._complete(messages)
            done += 1
            await self._publish({"type": "progress", "stage": "map", "done": done, "total": len(sections)})
            return Note(section.start_ms, section.end_ms, checker.fix_text(stream.text).strip())

        return await _gather_or_cancel([note(section) for section in sections])

    async def _complete(self, messages: list[dict]) -> ChatStream:
        stream = await chat_complete(
            messages, purpose=UsageRecord.Purpose.SUMMARY_MAP, user=self.user_id, client=self.client
        )
        if stream.usage is not None:
            self.usage.append(stream.usage)
        return stream

    # --- Publishing and saving ---

    async def _emit(self, text: str) -> None:
        if not text:
            return
        offset = len(self.text)
        self.text += text
        await self._publish({"type": "token", "text": text, "offset": offset})
        if time.monotonic() - self._saved_at >= float(settings.SUMMARY_SAVE_INTERVAL_SECONDS):
            await self._save(content=self.text)

    async def _publish(self, event: dict) -> None:
        message = {"type": "summary.event", "generation": self.generation_id, "event": event}
        try:
            await self.layer.group_send(group_name(self.summary_id), message)
        except Exception:
            logger.warning("summary %s: could not publish an event", self.summary_id, exc_info=True)
        await asyncio.sleep(0)  # let followers in this process read it

    async def _save(self, **fields: Any) -> None:
        self._saved_at = time.monotonic()
        updated = await Summary.objects.filter(pk=self.summary_id, generation_id=self.generation_id).aupdate(
            heartbeat_at=timezone.now(), **fields
        )
        if not updated:
            raise _Superseded

    async def _heartbeat(self) -> None:
        interval = max(0.05, min(10.0, float(settings.SUMMARY_STALE_SECONDS) / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._save(content=self.text)
            except _Superseded:
                return
            except Exception:
                logger.warning("summary %s: heartbeat failed", self.summary_id, exc_info=True)

    async def _finish(self, status: str, **fields: Any) -> None:
        fields.setdefault("content", self.text)
        if status == Summary.Status.COMPLETE:
            fields["previous"] = {}
        await self._save(
            status=status,
            mode=self.mode,
            llm_calls=len(self.usage),
            prompt_tokens=sum(usage.prompt_tokens for usage in self.usage),
            completion_tokens=sum(usage.completion_tokens for usage in self.usage),
            completed_at=timezone.now(),
            **fields,
        )


# --- Sections and text ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """A section of transcript, or the notes on one, with its time range."""

    start_ms: int
    end_ms: int
    text: str

    @property
    def tokens(self) -> int:
        return count_tokens(self.text)


def budget_sections[T: (Passage, Note)](items: Sequence[T], max_tokens: int) -> list[list[T]]:
    """Consecutive groups of about equal size, each within `max_tokens` (an item bigger than
    that goes alone). Every item is in exactly one group, in order."""
    sizes = [item.tokens for item in items]
    total = sum(sizes)
    if not items:
        return []
    target = total / max(1, -(-total // max(1, max_tokens)))
    groups: list[list[T]] = []
    current: list[T] = []
    current_tokens = 0
    for item, size in zip(items, sizes, strict=True):
        if current and (current_tokens + size > max_tokens or current_tokens >= target):
            groups.append(current)
            current, current_tokens = [], 0
        current.append(item)
        current_tokens += size
    groups.append(current)
    return groups


def passages_text(passages: Sequence[Passage]) -> str:
    return "\n".join(f"{format_timestamp(passage.start_ms)} {passage.text}" for passage in passages)


def notes_text(notes: Sequence[Note]) -> str:
    return "\n\n".join(
        f"### {format_timestamp(note.start_ms)}–{format_timestamp(note.end_ms)}\n{note.text}" for note in notes
    )


async def _gather_or_cancel[R](coroutines: Sequence[Any]) -> list[R]:
    """Run all; on the first failure cancel the rest and raise that failure (not a group)."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

"""Chat with a video part: conversations, history within a token budget, streamed cited answers.

`answer_stream` is an async generator of protocol events, shared by the websocket consumer and
the API:
    {"type": "start", "conversation_id", "message_id"}
    {"type": "token", "text"}
    {"type": "citations", "citations": [{"chunk_id", "start_ms", "end_ms", "label"}]}  (the cited cue's times)
    {"type": "done", "conversation_id", "message_id", "status", "usage", "offline"}
    {"type": "error", "code", "message", **details, "message_id"}
Both sides are saved as `Message`s. A client that goes away mid-answer cancels the generator:
the LLM stream is closed and the partial answer is saved as interrupted. The writes (question,
answer begun and finished) are chat.services.conversations; `conversation_get_for_user` is a
selector, importable from here as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import aclose_old_connections
from django.conf import settings

from chat.errors import CLIENT_DISCONNECTED, INTERNAL_ERROR, PART_NOT_READY
from chat.interruptions import interruption
from chat.llm import ChatStream, LLMError, llm_available
from chat.models import Message, UsageRecord
from chat.prompts import load_prompt
from chat.retrieval import RetrievedChunk, question_vector, retrieve_chunks
from chat.selectors import conversation_get_for_user
from chat.services.conversations import AnswerStart, answer_begin, answer_finish
from chat.services.quotas import Reservation
from chat.timestamps import (
    TIMESTAMP_PATTERN,
    StreamingTimestampFixer,
    TimestampChecker,
    cue_lines_text,
    format_timestamp,
    parse_timestamp,
)
from core.errors import AppError
from core.tokens import count_tokens
from videos.models import VideoPart
from videos.types import Cue

logger = logging.getLogger(__name__)

__all__ = [
    "AnswerRun",
    "answer_messages",
    "answer_stream",
    "citations_in",
    "conversation_get_for_user",
    "history_within_budget",
]

ANSWER_PROMPT_VERSION = "v2"
OFFLINE_QUOTES = 3
LANGUAGE_INSTRUCTIONS = {
    "zh": "用简体中文回答。",
    "en": "Answer in English.",
    "auto": "用提问者使用的语言回答。",
}


# --- prompt -------------------------------------------------------------------------------------


def history_within_budget(messages: Sequence[Message], budget_tokens: int) -> tuple[list[dict[str, str]], int]:
    """The most recent turns that fit the budget, oldest first, and how many were dropped.

    Whole question/answer turns are kept or dropped together, newest first, so the context never
    overflows silently: what does not fit is left out and counted.
    """
    turns: list[list[Message]] = []
    for message in messages:
        if message.role == Message.Role.USER or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    kept: list[list[Message]] = []
    used = 0
    for turn in reversed(turns):
        cost = sum(count_tokens(message.content) + 4 for message in turn)
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    dropped = len(turns) - len(kept)
    history = [{"role": message.role, "content": message.content} for turn in reversed(kept) for message in turn]
    return history, dropped


# An excerpt line holds one cue, or two short ones, so a cited line starts at most one cue early.
EXCERPT_LINE_CUES = 2
EXCERPT_LINE_MIN_TOKENS = 16


def excerpt_cues(chunks: Sequence[RetrievedChunk]) -> list[tuple[RetrievedChunk, tuple[Cue, ...]]]:
    """Each chunk with the lines it shows: its cues not already shown by an earlier chunk (chunks
    overlap), or the whole chunk as one line when the part has no stored cues. Chunks left with
    nothing new are left out."""
    shown: set[int] = set()
    excerpts = []
    for chunk in chunks:
        lines = chunk.cues or (Cue(chunk.start_ms, chunk.end_ms, chunk.text),)
        new = tuple(cue for cue in lines if cue.start_ms not in shown)
        shown.update(cue.start_ms for cue in new)
        if new:
            excerpts.append((chunk, new))
    return excerpts


def excerpts_text(chunks: Sequence[RetrievedChunk]) -> str:
    """The excerpts, a blank line between chunks, each line led by its first cue's start."""
    return "\n\n".join(
        cue_lines_text(cues, max_cues=EXCERPT_LINE_CUES, min_tokens=EXCERPT_LINE_MIN_TOKENS)
        for _, cues in excerpt_cues(chunks)
    )


def excerpts_checker(chunks: Sequence[RetrievedChunk]) -> TimestampChecker:
    """Checks an answer's times: each must fall inside one excerpt and goes to one of its cues."""
    return TimestampChecker.from_passages(cues for _, cues in excerpt_cues(chunks))


def answer_messages(
    *, part: VideoPart, question: str, chunks: Sequence[RetrievedChunk], history: list[dict[str, str]], language: str
) -> list[dict[str, str]]:
    prompt = load_prompt("answer", ANSWER_PROMPT_VERSION).messages(
        title=part.video.title,
        part_title=part.title,
        excerpts=excerpts_text(chunks) or "（没有找到相关片段）",
        question=question,
        language_instruction=LANGUAGE_INSTRUCTIONS.get(language, LANGUAGE_INSTRUCTIONS["auto"]),
    )
    system, user = prompt
    if history:
        system = {**system, "content": system["content"] + "\n- 之前的对话可能已省略较早的部分。"}
    return [system, *history, user]


def citations_in(text: str, chunks: Sequence[RetrievedChunk]) -> list[dict]:
    """Each distinct moment the (checked) answer cites: the cue whose start second the timestamp
    names, with the retrieved chunk that showed it. Start and end are the cue's."""
    by_second: dict[int, tuple[RetrievedChunk, Cue]] = {}
    for chunk, cues in excerpt_cues(chunks):
        for cue in cues:
            by_second.setdefault(cue.start_ms // 1000, (chunk, cue))
    citations: list[dict] = []
    seen: set[int] = set()
    for match in TIMESTAMP_PATTERN.finditer(text):
        ms = parse_timestamp(match.group("start"))
        found = by_second.get(ms // 1000) if ms is not None else None
        if found is None or found[1].start_ms in seen:
            continue
        chunk, cue = found
        seen.add(cue.start_ms)
        citations.append(
            {"chunk_id": chunk.chunk_id, "start_ms": cue.start_ms, "end_ms": cue.end_ms, "label": match.group(0)}
        )
    return citations


def offline_answer(chunks: Sequence[RetrievedChunk]) -> str:
    """Retrieval-only answer: the best excerpts, quoted with their timestamps."""
    hits = sorted((chunk for chunk in chunks if not chunk.is_context), key=lambda chunk: -chunk.score)
    if not hits:
        return "（离线模式）视频里没有找到和这个问题相关的内容。\n\n(Offline mode) Nothing in the video matches."
    quotes = [f"> {format_timestamp(_first_line_start(chunk))} {chunk.text}" for chunk in hits[:OFFLINE_QUOTES]]
    header = "（离线模式：未配置大模型，以下是视频中与问题最相关的片段）\n(Offline mode: the most relevant moments)"
    return header + "\n\n" + "\n\n".join(quotes)


def _first_line_start(chunk: RetrievedChunk) -> int:
    return chunk.cues[0].start_ms if chunk.cues else chunk.start_ms


# --- the stream ---------------------------------------------------------------------------------


async def answer_stream(
    *,
    user: Any,
    part: VideoPart,
    question: str,
    conversation_id: int | None = None,
    language: str = "auto",
    reservation: Reservation | None = None,
) -> AsyncIterator[dict]:
    """Answer one question about a ready part, streaming protocol events (see the module doc).
    The gate's quota `reservation`, if given, is released with the answer's end (one trip)."""
    if not part.is_ready:
        raise AppError(PART_NOT_READY)
    # The question is embedded while it is saved: the two waits overlap (issue 12).
    vector = asyncio.ensure_future(question_vector(question.strip())) if question.strip() else None
    try:
        start = await sync_to_async(answer_begin)(
            user=user, part=part, question=question, conversation_id=conversation_id
        )
    except BaseException:
        await _given_up(vector)
        raise
    answer = AnswerRun(start, user=user, part=part, language=language, vector=vector, reservation=reservation)
    try:
        yield {"type": "start", "conversation_id": start.conversation.pk, "message_id": start.answer.pk}
    except BaseException:  # closed or cancelled before the answer began
        await _given_up(vector)
        await answer._save_interrupted()
        raise
    async for event in answer.run():
        yield event


async def _given_up(task: asyncio.Future | None) -> None:
    """Cancel a task whose result is no longer wanted, and let it end (its error unreported)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


class AnswerRun:
    """One answer being made: retrieve, prompt, stream with checked timestamps, save. The retrieval,
    prompt, timestamp fixing, citations and offline text are methods, so a cross-video answer
    (chat.library_chat) changes only those."""

    def __init__(
        self,
        start: AnswerStart,
        *,
        user: Any,
        part: VideoPart | None,
        language: str,
        vector: asyncio.Future | None = None,
        reservation: Reservation | None = None,
    ) -> None:
        self.start = start
        self.user = user
        self.part = part
        self.language = language
        self.vector = vector  # the question's embedding, being made (answer_stream)
        self.reservation = reservation  # the gate's, released with the answer's end (chat.gate.GateStream)
        self.text = ""

    async def run(self) -> AsyncIterator[dict]:
        try:
            chunks = await self.retrieve()
            if llm_available():
                async for event in self._generate(chunks):
                    yield event
            else:
                async for event in self._offline(chunks):
                    yield event
        except AppError as exc:
            yield await self._failed(exc, interrupted=isinstance(exc, LLMError) and exc.interrupted)
        except (asyncio.CancelledError, GeneratorExit):
            await _given_up(self.vector)
            await self._save_interrupted()
            raise
        except Exception:
            logger.exception("answering message %s failed", self.start.answer.pk)
            yield await self._failed(AppError(INTERNAL_ERROR))

    async def _generate(self, chunks: list[RetrievedChunk]) -> AsyncIterator[dict]:
        earlier = await self._earlier_messages()
        history, _ = history_within_budget(earlier, settings.CHAT_HISTORY_TOKENS)
        messages = self.prompt(chunks, history)
        fixer = self.timestamp_fixer(chunks)
        self.stream = ChatStream(messages, purpose=UsageRecord.Purpose.CHAT, user=self.user)
        # The database connection goes back to the pool for the stream, while the request starts.
        closing = asyncio.ensure_future(aclose_old_connections())
        try:
            async for delta in self.stream:
                if safe := fixer.feed(delta):
                    self.text += safe
                    yield {"type": "token", "text": safe}
        finally:
            await closing
        if tail := fixer.flush():
            self.text += tail
            yield {"type": "token", "text": tail}
        usage = self.stream.usage
        async for event in self._complete(chunks, usage.prompt_tokens, usage.completion_tokens, offline=False):
            yield event

    async def _offline(self, chunks: list[RetrievedChunk]) -> AsyncIterator[dict]:
        self.text = self.offline_text(chunks)
        for line in self.text.splitlines(keepends=True):
            yield {"type": "token", "text": line}
        async for event in self._complete(chunks, 0, 0, offline=True):
            yield event

    async def _complete(self, chunks: list[RetrievedChunk], prompt: int, completion: int, *, offline: bool):
        citations = await self.citations(chunks)
        await self._finish(
            status=Message.Status.COMPLETE,
            citations=citations,
            prompt_tokens=prompt,
            completion_tokens=completion,
            offline=offline,
        )
        yield {"type": "citations", "citations": citations}
        yield {
            "type": "done",
            "conversation_id": self.start.conversation.pk,
            "message_id": self.start.answer.pk,
            "status": Message.Status.COMPLETE,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
            "offline": offline,
        }

    async def retrieve(self) -> list[RetrievedChunk]:
        assert self.part is not None
        vector = await self.vector if self.vector is not None else None
        return await retrieve_chunks(self.part.pk, self.start.question.content, vector=vector)

    def prompt(self, chunks: list[RetrievedChunk], history: list[dict[str, str]]) -> list[dict[str, str]]:
        assert self.part is not None
        question = self.start.question.content
        return answer_messages(
            part=self.part, question=question, chunks=chunks, history=history, language=self.language
        )

    def timestamp_fixer(self, chunks: list[RetrievedChunk]) -> StreamingTimestampFixer:
        return StreamingTimestampFixer(excerpts_checker(chunks))

    async def citations(self, chunks: list[RetrievedChunk]) -> list[dict]:
        return citations_in(self.text, chunks)

    def offline_text(self, chunks: list[RetrievedChunk]) -> str:
        return offline_answer(chunks)

    async def _earlier_messages(self) -> list[Message]:
        if self.start.new_conversation:
            return []
        conversation = self.start.conversation
        earlier = conversation.messages.exclude(pk__in=[self.start.question.pk, self.start.answer.pk]).exclude(
            status=Message.Status.FAILED
        )
        return [message async for message in earlier.order_by("created_at", "id")]

    async def _failed(self, error: AppError, *, interrupted: bool = False) -> dict:
        status = Message.Status.INTERRUPTED if interrupted or self.text else Message.Status.FAILED
        await self._finish(status=status, error=error)
        body = error.as_dict()
        return {
            "type": "error",
            "code": error.code,
            "message": body["message"],
            **body["details"],
            "message_id": self.start.answer.pk,
        }

    async def _save_interrupted(self) -> None:
        await self._finish(
            status=Message.Status.INTERRUPTED,
            error=interruption(CLIENT_DISCONNECTED),  # server_restarted when this server is stopping
        )

    async def _finish(self, *, status: str, **outcome: Any) -> None:
        """Save the answer's end and release the gate's reservation, in one trip to the database."""
        reservation_id = self.reservation.id if self.reservation is not None else None
        await sync_to_async(answer_finish)(
            message_id=self.start.answer.pk, content=self.text, status=status, reservation_id=reservation_id, **outcome
        )
        if self.reservation is not None:
            self.reservation.id = None  # released: the gate has nothing left to release

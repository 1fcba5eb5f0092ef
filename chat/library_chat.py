"""Cross-video chat: a conversation over a collection's videos or over the user's whole library.

The same protocol events as one video's chat (chat.conversations), from the same `AnswerRun`;
only retrieval, prompt, timestamp checking, citations and the offline text differ:

- retrieval is `chat.retrieval.retrieve_across_parts` over the scope's ready parts;
- each excerpt line is led by a source label, `[V<part id> mm:ss]` (a part id names the video
  and part for good, so labels in earlier answers of the conversation keep their meaning);
- the answer's labels are checked while it streams (`SourceTimestampFixer`): a label must name a
  retrieved part and fall in one of its excerpts, and is snapped to the start of a real line of
  it; anything else, and a bare `[mm:ss]` that names no video, is removed;
- each citation names its video and part and the moment, with the link that opens the video page
  there: {"part_id", "bvid", "page", "video_title", "part_title", "chunk_id", "start_ms", "end_ms",
  "label", "url"}.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.utils.translation import gettext as _

from chat.conversations import (
    EXCERPT_LINE_CUES,
    EXCERPT_LINE_MIN_TOKENS,
    LANGUAGE_INSTRUCTIONS,
    AnswerRun,
    excerpt_cues,
)
from chat.errors import LIBRARY_EMPTY
from chat.library import library_ready_part_ids, moment_url
from chat.models import Conversation
from chat.prompts import load_prompt
from chat.retrieval import RetrievedChunk, retrieve_across_parts
from chat.services.conversations import answer_begin
from chat.timestamps import TIMESTAMP_PATTERN, TimestampChecker, cue_lines_text, format_timestamp, parse_timestamp
from core.errors import AppError
from videos.models import VideoPart
from videos.selectors import collection_get_for_user

LIBRARY_ANSWER_PROMPT_VERSION = "v1"
OFFLINE_QUOTES = 3
_TIME = r"(?:\d{1,2}:)?\d{1,3}:\d{2}"
# "[V12 03:15]" (full-width brackets, a "·" or comma between, "v" in lower case are accepted too).
SOURCE_TIMESTAMP = re.compile(rf"[\[【]\s*[Vv](?P<source>\d{{1,9}})[\s·,，]+(?P<start>{_TIME})\s*[\]】]")
# An opening bracket with no closing one yet at the end of streamed text: wait for the rest.
_OPEN_LABEL = re.compile(r"[\[【][^\]】\n]{0,24}\Z")


@dataclass(frozen=True)
class LibraryScope:
    """What a cross-video conversation reads: a collection's ready parts, or the library's."""

    collection_id: int | None
    title: str
    part_ids: tuple[int, ...]

    @property
    def kind(self) -> str:
        return Conversation.Scope.LIBRARY if self.collection_id is None else Conversation.Scope.COLLECTION


def library_scope_open(*, user: Any, collection_id: int | None = None) -> LibraryScope:
    """The user's scope: collection_not_found (404) for a collection not theirs, library_empty
    (409) when nothing in it is ready yet."""
    title = _("我的资料库")
    if collection_id is not None:
        title = collection_get_for_user(user=user, collection_id=collection_id).title or title
    part_ids = library_ready_part_ids(user=user, collection_id=collection_id)
    if not part_ids:
        raise AppError(LIBRARY_EMPTY)
    return LibraryScope(collection_id=collection_id, title=title, part_ids=tuple(part_ids))


@dataclass(frozen=True)
class Source:
    """A retrieved part, as citations and the prompt name it."""

    part_id: int
    bvid: str
    page: int
    video_title: str
    part_title: str

    @property
    def name(self) -> str:
        return f"《{self.video_title}》" + (f" P{self.page} {self.part_title}" if self.page > 1 else "")

    def label(self, start_ms: int) -> str:
        return f"[V{self.part_id} {format_timestamp(start_ms)[1:-1]}]"


def sources_of(chunks: Sequence[RetrievedChunk]) -> dict[int, Source]:
    """The parts the chunks come from, by id."""
    parts = VideoPart.objects.select_related("video").defer("transcript_cues", "danmaku")
    return {
        part.pk: Source(part.pk, part.video.bvid, part.page, part.video.title, part.title)
        for part in parts.filter(pk__in={chunk.part_id for chunk in chunks})
    }


def by_part(chunks: Sequence[RetrievedChunk]) -> dict[int, list[RetrievedChunk]]:
    """The chunks grouped by part, in order (retrieval already groups them)."""
    groups: dict[int, list[RetrievedChunk]] = {}
    for chunk in chunks:
        groups.setdefault(chunk.part_id, []).append(chunk)
    return groups


def library_excerpts_text(chunks: Sequence[RetrievedChunk], sources: dict[int, Source]) -> str:
    """The excerpts, part by part, each line led by `[V<part id> mm:ss]`."""
    blocks = []
    for part_id, part_chunks in by_part(chunks).items():
        prefix = f"[V{part_id} "
        for _chunk, cues in excerpt_cues(part_chunks):
            lines = cue_lines_text(cues, max_cues=EXCERPT_LINE_CUES, min_tokens=EXCERPT_LINE_MIN_TOKENS)
            blocks.append("\n".join(prefix + line[1:] for line in lines.splitlines()))
    return "\n\n".join(blocks)


class SourceTimestamps:
    """Checks labels against the retrieved excerpts of each part (see the module docstring)."""

    def __init__(self, checkers: dict[int, TimestampChecker], sources: dict[int, Source]) -> None:
        self.checkers = checkers
        self.sources = sources

    @classmethod
    def from_chunks(cls, chunks: Sequence[RetrievedChunk], sources: dict[int, Source]) -> SourceTimestamps:
        checkers = {
            part_id: TimestampChecker.from_passages(cues for _chunk, cues in excerpt_cues(part_chunks))
            for part_id, part_chunks in by_part(chunks).items()
        }
        return cls(checkers, sources)

    def snap(self, source: str, start: str) -> tuple[int, int] | None:
        """(part id, cue start ms) a label names, or None when it names nothing retrieved."""
        part_id, ms = int(source), parse_timestamp(start)
        checker = self.checkers.get(part_id)
        snapped = checker.snap_to_cue(ms) if checker is not None and ms is not None else None
        return None if snapped is None or part_id not in self.sources else (part_id, snapped)

    def fix_text(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            found = self.snap(match.group("source"), match.group("start"))
            return "" if found is None else self.sources[found[0]].label(found[1])

        return TIMESTAMP_PATTERN.sub("", SOURCE_TIMESTAMP.sub(replace, text))


class SourceTimestampFixer:
    """`SourceTimestamps.fix_text` over a stream: an unclosed label at the end is held back."""

    def __init__(self, checker: SourceTimestamps) -> None:
        self.checker = checker
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        tail = _OPEN_LABEL.search(text)
        cut = tail.start() if tail else len(text)
        self._pending = text[cut:]
        return self.checker.fix_text(text[:cut])

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self.checker.fix_text(text)


def library_citations_in(text: str, chunks: Sequence[RetrievedChunk], sources: dict[int, Source]) -> list[dict]:
    """Each distinct moment the (checked) answer cites, naming its video, part and line."""
    checker = SourceTimestamps.from_chunks(chunks, sources)
    chunk_of: dict[tuple[int, int], tuple[RetrievedChunk, Any]] = {}
    for part_id, part_chunks in by_part(chunks).items():
        for chunk, cues in excerpt_cues(part_chunks):
            for cue in cues:
                chunk_of.setdefault((part_id, cue.start_ms), (chunk, cue))
    citations: list[dict] = []
    for match in SOURCE_TIMESTAMP.finditer(text):
        found = checker.snap(match.group("source"), match.group("start"))
        if found is None or found not in chunk_of or any(c["_key"] == found for c in citations):
            continue
        chunk, cue = chunk_of[found]
        source = sources[found[0]]
        citations.append({"_key": found, **_citation(source, chunk, cue, match.group(0))})
    return [{key: value for key, value in citation.items() if key != "_key"} for citation in citations]


def _citation(source: Source, chunk: RetrievedChunk, cue: Any, label: str) -> dict:
    return {
        "part_id": source.part_id,
        "bvid": source.bvid,
        "page": source.page,
        "video_title": source.video_title,
        "part_title": source.part_title,
        "chunk_id": chunk.chunk_id,
        "start_ms": cue.start_ms,
        "end_ms": cue.end_ms,
        "label": label,
        "url": moment_url(bvid=source.bvid, page=source.page, start_ms=cue.start_ms),
    }


def library_offline_answer(chunks: Sequence[RetrievedChunk], sources: dict[int, Source]) -> str:
    """Retrieval-only answer: the best excerpts of the videos, each with its video and label."""
    hits = sorted((chunk for chunk in chunks if not chunk.is_context), key=lambda chunk: -chunk.score)
    if not hits:
        return "（离线模式）这些视频里没有找到和这个问题相关的内容。\n\n(Offline mode) Nothing in these videos matches."
    quotes = []
    for chunk in hits[:OFFLINE_QUOTES]:
        source = sources[chunk.part_id]
        start = chunk.cues[0].start_ms if chunk.cues else chunk.start_ms
        quotes.append(f"> {source.label(start)} {source.name}：{chunk.text}")
    header = "（离线模式：未配置大模型，以下是这些视频中与问题最相关的片段）\n(Offline mode: the most relevant moments)"
    return header + "\n\n" + "\n\n".join(quotes)


class LibraryAnswerRun(AnswerRun):
    """An answer over many parts (see the module docstring)."""

    def __init__(self, start: Any, *, user: Any, scope: LibraryScope, language: str) -> None:
        super().__init__(start, user=user, part=None, language=language)
        self.scope = scope
        self.sources: dict[int, Source] = {}

    async def retrieve(self) -> list[RetrievedChunk]:
        chunks = await retrieve_across_parts(self.scope.part_ids, self.start.question.content)
        self.sources = await sync_to_async(sources_of)(chunks)
        return chunks

    def prompt(self, chunks: list[RetrievedChunk], history: list[dict[str, str]]) -> list[dict[str, str]]:
        sources = "\n".join(f"V{source.part_id}：{source.name}" for source in self.sources.values())
        system, user = load_prompt("library_answer", LIBRARY_ANSWER_PROMPT_VERSION).messages(
            scope_title=self.scope.title,
            sources=sources or "（无）",
            excerpts=library_excerpts_text(chunks, self.sources) or "（没有找到相关片段）",
            question=self.start.question.content,
            language_instruction=LANGUAGE_INSTRUCTIONS.get(self.language, LANGUAGE_INSTRUCTIONS["auto"]),
        )
        if history:
            system = {**system, "content": system["content"] + "\n- 之前的对话可能已省略较早的部分。"}
        return [system, *history, user]

    def timestamp_fixer(self, chunks: list[RetrievedChunk]) -> SourceTimestampFixer:
        return SourceTimestampFixer(SourceTimestamps.from_chunks(chunks, self.sources))

    async def citations(self, chunks: list[RetrievedChunk]) -> list[dict]:
        return library_citations_in(self.text, chunks, self.sources)

    def offline_text(self, chunks: list[RetrievedChunk]) -> str:
        return library_offline_answer(chunks, self.sources)


async def library_answer_stream(
    *, user: Any, scope: LibraryScope, question: str, conversation_id: int | None = None, language: str = "auto"
) -> AsyncIterator[dict]:
    """Answer one question across the scope's videos, streaming protocol events."""
    start = await sync_to_async(answer_begin)(
        user=user,
        part=None,
        question=question,
        conversation_id=conversation_id,
        scope=scope.kind,
        collection_id=scope.collection_id,
    )
    run = LibraryAnswerRun(start, user=user, scope=scope, language=language)
    yield {
        "type": "start",
        "conversation_id": start.conversation.pk,
        "message_id": start.answer.pk,
        "scope": scope.kind,
        "collection_id": scope.collection_id,
    }
    async for event in run.run():
        yield event

"""Reads for generation: a part's transcript as passages of real, timed lines (cues).

Chunks overlap (the tail of one chunk starts the next), so sending chunk texts would send some
transcript twice. A passage is the part of the transcript that belongs to one chunk: every cue
of `VideoPart.transcript_cues` goes to the latest chunk that starts at or before it. So the
passages hold every cue exactly once, in order; each passage keeps its cues (with their own
start times, which prompts show line by line and timestamps are checked against) and starts at
its first cue. A part without stored cues falls back to its chunk texts with the overlap cut
off, each chunk standing for one cue.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Count, QuerySet

from chat.errors import CONVERSATION_NOT_FOUND
from chat.models import ApiToken, Conversation, Summary
from chat.summary_keys import LANGUAGES, summary_key
from core.errors import AppError
from core.tokens import count_tokens
from videos.chunking import join_lines
from videos.models import Chunk, VideoPart
from videos.types import Cue

# An overlap shorter than this many characters is taken for a coincidence, not a repeated tail.
MIN_OVERLAP_CHARS = 4


@dataclass(frozen=True)
class Passage:
    start_ms: int  # the start of its first cue
    end_ms: int
    text: str  # its cues' texts joined the way chunks join lines (videos.chunking.join_lines)
    tokens: int
    cues: tuple[Cue, ...] = ()  # its transcript lines, in order (one cue for a chunk fallback)

    @property
    def lines(self) -> tuple[Cue, ...]:
        """Its timed lines: the cues, or the whole passage as one line."""
        return self.cues or (Cue(self.start_ms, self.end_ms, self.text),)

    def start_of(self, fragment: str) -> int:
        """The start of the cue where `fragment` of `text` begins (the passage start if absent)."""
        offset = self.text.find(fragment)
        if offset < 0:
            return self.start_ms
        seen = ""
        for cue in self.lines:
            seen = join_lines([seen, cue.text])
            if len(seen) > offset:
                return cue.start_ms
        return self.start_ms


@dataclass
class PartTranscript:
    part_id: int
    title: str
    part_title: str
    passages: list[Passage]
    spans: list[tuple[int, int]] = field(default_factory=list)  # every chunk's (start_ms, end_ms)

    @property
    def tokens(self) -> int:
        return sum(passage.tokens for passage in self.passages)

    @property
    def cues(self) -> list[Cue]:
        """Every line of the part once, in order: what its timestamps must point at."""
        return [cue for passage in self.passages for cue in passage.lines]


def part_transcript(*, part_id: int) -> PartTranscript:
    """The part's passages and chunk spans (sync: call through sync_to_async from async code)."""
    part = VideoPart.objects.select_related("video").get(pk=part_id)
    chunks = list(
        Chunk.objects.filter(part_id=part_id).order_by("start_ms", "ordinal").values_list("start_ms", "end_ms", "text")
    )
    passages = passages_from_cues(chunks, stored_cues(part.transcript_cues)) or passages_from_chunks(chunks)
    return PartTranscript(
        part_id=part_id,
        title=part.video.title,
        part_title=part.title,
        passages=passages,
        spans=[(start, end) for start, end, _ in chunks],
    )


def stored_cues(rows: Sequence[Sequence[Any]] | None) -> list[Cue]:
    """`VideoPart.transcript_cues` ([start_ms, end_ms, text] rows) as cues, blank lines left out."""
    cues = [Cue(int(row[0]), int(row[1]), str(row[2]).strip()) for row in rows or [] if len(row) >= 3]
    return sorted((cue for cue in cues if cue.text), key=lambda cue: (cue.start_ms, cue.end_ms))


def passages_from_cues(chunks: Sequence[tuple[int, int, str]], cues: Sequence[Cue]) -> list[Passage]:
    """Group cues under the latest chunk start at or before each (cues before the first chunk go
    to the first). Chunks that get no cue make no passage."""
    if not chunks:
        return []
    starts = [start for start, _, _ in chunks]
    groups: dict[int, list[Cue]] = {}
    for cue in cues:
        if cue.text.strip():
            index = max(0, bisect.bisect_right(starts, cue.start_ms) - 1)
            groups.setdefault(index, []).append(cue)
    passages = []
    for index in sorted(groups):
        group = tuple(groups[index])
        text = join_lines(cue.text for cue in group)
        end = max(cue.end_ms for cue in group)
        passages.append(Passage(group[0].start_ms, end, text, count_tokens(text), group))
    return passages


def passages_from_chunks(chunks: Sequence[tuple[int, int, str]]) -> list[Passage]:
    """Chunk texts with the part each repeats from the previous chunk cut off."""
    passages = []
    previous = ""
    for start, end, text in chunks:
        own = _without_overlap(previous, text)
        previous = text
        if own:
            passages.append(Passage(start, end, own, count_tokens(own)))
    return passages


def _without_overlap(previous: str, text: str) -> str:
    for length in range(min(len(previous), len(text)), MIN_OVERLAP_CHARS - 1, -1):
        if previous.endswith(text[:length]):
            return text[length:].strip()
    return text.strip()


def summary_current(*, part_id: int, language: str, style: str = "standard") -> Summary | None:
    """The part's current summary in a language and style key (chat.styles.style_key): complete,
    made with today's key (prompt version and model, or offline), and not older than the part's
    last ingestion. The one lookup pages, the API, the websocket, comment drafts and quotas all use."""
    if language not in LANGUAGES:
        return None
    key = summary_key(part_id=part_id, language=language, style=style)
    summary = Summary.objects.filter(
        part_id=part_id,
        language=language,
        prompt_version=key.prompt_version,
        model=key.model,
        style=key.style,
        status=Summary.Status.COMPLETE,
    ).first()
    if summary is None:
        return None
    ingested_at = VideoPart.objects.filter(pk=part_id).values_list("ingested_at", flat=True).first()
    return None if ingested_at and summary.completed_at and summary.completed_at < ingested_at else summary


asummary_current = sync_to_async(summary_current)


def conversation_get_for_user(*, user: Any, conversation_id: int) -> Conversation:
    """The user's own conversation; anyone else's looks exactly like a missing one."""
    conversation = Conversation.objects.filter(pk=conversation_id, user=user).select_related("part").first()
    if conversation is None:
        raise AppError(CONVERSATION_NOT_FOUND)
    return conversation


def conversations_for_user(user: Any) -> QuerySet[Conversation]:
    """The user's conversations about one part, with their part and message count, most recent first
    (cross-video ones: chat.library_chat.library_conversations_for_user)."""
    return (
        Conversation.objects.filter(user=user, scope=Conversation.Scope.PART)
        .select_related("part__video")
        .annotate(message_count=Count("messages"))
        .order_by("-updated_at", "-id")
    )


def api_tokens_for_user(user: Any) -> QuerySet[ApiToken]:
    """The user's API tokens, newest first, revoked ones included (they show as revoked)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")

"""Series summary: one overview of a collection, map-reduce over its videos' summaries.

The map phase is each video's own summary (chat.summaries; the current, complete one in the
language asked), never its transcript. Reduce: the summaries, each led by its video's label
`V<part id>` and with its moments relabelled `[V<part id> mm:ss]`, go to the LLM in batches that
fit SERIES_BATCH_TOKENS; more than one batch gives partial overviews that are reduced again,
until one streamed call writes the overview. Its moment labels are checked while it streams
(chat.library_chat.SourceTimestamps: a label must be a moment of that video's summary) and
become links to the video page at that moment.

Cached per (collection, language, prompt version, model, the summaries read): asking again
streams the stored overview with no LLM call; a new or regenerated video summary makes a new
entry. Without an LLM (offline mode) the overview is extractive: each video's abstract line and
its key points.

The site's operator (the admin's regenerate action) asks as `OPERATOR`: any collection, and, like
every generation without a signed-in user, no quota (chat.gate).

Events: {"type": "start", "series_id", "videos", "missing", "cached"}, {"type": "token", "text"},
{"type": "done", "series_id", "status", "links", "offline", "cached"}; failures raise AppError
(the gate's entry points turn it into an error frame or event).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from chat.conversations import LANGUAGE_INSTRUCTIONS
from chat.errors import SERIES_NO_SUMMARIES, SUMMARY_INTERRUPTED
from chat.library import moment_url
from chat.library_chat import SOURCE_TIMESTAMP, Source, SourceTimestampFixer, SourceTimestamps
from chat.llm import ChatStream, chat_model, llm_available
from chat.models import SeriesSummary, UsageRecord
from chat.prompts import load_prompt
from chat.selectors import summary_current
from chat.services.series import series_summary_begin, series_summary_finish
from chat.timestamps import TIMESTAMP_PATTERN, TimestampChecker
from core.errors import AppError
from core.tokens import count_tokens
from videos.errors import COLLECTION_NOT_FOUND
from videos.models import Collection, CollectionItem
from videos.selectors import collection_get_for_user, collection_items

SERIES_PROMPT_VERSION = "v1"
OFFLINE_MODEL = "offline"
# Rounds of partial overviews at most; after them the last round's partials go to one call.
SERIES_REDUCE_ROUNDS = 3


class _Operator:
    """The site's operator as a generation's user: no account (not signed in, no id), so no quota,
    no usage owner and no `requested_by`; unlike `None` (nobody), it may read any collection."""

    is_authenticated = False
    pk = None

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR = _Operator()


@dataclass(frozen=True)
class SeriesVideo:
    source: Source
    summary_id: int
    content: str
    moments: tuple[int, ...]  # starts (ms) of the summary's key points and chapters

    def notes(self) -> str:
        """The summary as the reduce prompt reads it: led by its label, moments relabelled."""
        label = f"[V{self.source.part_id} "
        relabelled = TIMESTAMP_PATTERN.sub(lambda match: label + match.group("start") + "]", self.content)
        return f"### V{self.source.part_id} {self.source.name}\n{relabelled.strip()}"


@dataclass
class SeriesPlan:
    collection_id: int
    title: str
    language: str
    model: str
    videos: list[SeriesVideo]
    missing: list[str] = field(default_factory=list)  # titles of ready items with no summary yet
    inputs_key: str = ""
    cached: SeriesSummary | None = None

    def video_rows(self) -> list[dict]:
        return [
            {
                "part_id": video.source.part_id,
                "bvid": video.source.bvid,
                "page": video.source.page,
                "video_title": video.source.video_title,
                "summary_id": video.summary_id,
                "url": moment_url(bvid=video.source.bvid, page=video.source.page, start_ms=0),
            }
            for video in self.videos
        ]

    def checker(self) -> SourceTimestamps:
        checkers = {
            video.source.part_id: TimestampChecker.from_cues((start, start + 1000) for start in video.moments)
            for video in self.videos
            if video.moments
        }
        return SourceTimestamps(checkers, {video.source.part_id: video.source for video in self.videos})


def series_plan(*, user: Any, collection_id: int, language: str) -> SeriesPlan:
    """What the overview will read (collection_not_found 404; series_no_summaries 409 when no
    video has a summary yet), and the cached overview of exactly those summaries, if any."""
    collection = series_collection(user=user, collection_id=collection_id)
    videos, missing = [], []
    for item in collection_items(collection_id=collection_id).filter(state=CollectionItem.State.READY):
        part = item.part
        summary = summary_current(part_id=part.pk, language=language) if part is not None else None
        if summary is None:
            missing.append(item.title or item.bvid)
            continue
        source = Source(part.pk, part.video.bvid, part.page, part.video.title, part.title)
        moments = {point["start_ms"] for point in summary.key_points} | {c["start_ms"] for c in summary.chapters}
        videos.append(SeriesVideo(source, summary.pk, summary.content, tuple(sorted(moments))))
    if not videos:
        raise AppError(SERIES_NO_SUMMARIES, details={"missing": len(missing)})
    model = chat_model() if llm_available() else OFFLINE_MODEL
    digest = hashlib.sha256("|".join(f"{video.summary_id}:{video.content}" for video in videos).encode())
    plan = SeriesPlan(collection_id, collection.title, language, model, videos, missing, digest.hexdigest())
    plan.cached = SeriesSummary.objects.filter(
        collection_id=collection_id,
        language=language,
        prompt_version=SERIES_PROMPT_VERSION,
        model=model,
        inputs_key=plan.inputs_key,
        status=SeriesSummary.Status.COMPLETE,
    ).first()
    return plan


def series_collection(*, user: Any, collection_id: int) -> Collection:
    """The user's own collection (collection_not_found, 404, for anyone else's); any one for `OPERATOR`."""
    if user is not OPERATOR:
        return collection_get_for_user(user=user, collection_id=collection_id)
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None:
        raise AppError(COLLECTION_NOT_FOUND, details={"collection_id": collection_id})
    return collection


def series_links(text: str, checker: SourceTimestamps) -> list[dict]:
    """Each distinct moment the overview cites, with the link that opens its video there."""
    links: list[dict] = []
    for match in SOURCE_TIMESTAMP.finditer(text):
        found = checker.snap(match.group("source"), match.group("start"))
        if found is None or any((link["part_id"], link["start_ms"]) == found for link in links):
            continue
        source = checker.sources[found[0]]
        url = moment_url(bvid=source.bvid, page=source.page, start_ms=found[1])
        links.append(
            {
                "part_id": source.part_id,
                "bvid": source.bvid,
                "page": source.page,
                "video_title": source.video_title,
                "part_title": source.part_title,
                "start_ms": found[1],
                "label": match.group(0),
                "url": url,
            }
        )
    return links


def batches(notes: Sequence[str], budget_tokens: int) -> list[list[str]]:
    """The notes in order, cut into batches of at most `budget_tokens` (a longer note alone)."""
    cut: list[list[str]] = [[]]
    used = 0
    for note in notes:
        tokens = count_tokens(note)
        if cut[-1] and used + tokens > budget_tokens:
            cut.append([])
            used = 0
        cut[-1].append(note)
        used += tokens
    return cut


def offline_overview(plan: SeriesPlan) -> str:
    """Without an LLM: each video's first line of summary and its first moments, as labels."""
    lines = [f"（离线模式：由各视频摘要摘录）\n(Offline mode: excerpts of each video's summary)\n\n## {plan.title}"]
    for video in plan.videos:
        first = next((line for line in video.content.splitlines() if line.strip() and not line.startswith("#")), "")
        moments = " ".join(video.source.label(start) for start in video.moments[:3])
        lines.append(f"- **{video.source.name}**：{TIMESTAMP_PATTERN.sub('', first).strip()} {moments}".rstrip())
    return "\n".join(lines)


class _Usage:
    def __init__(self) -> None:
        self.calls = self.prompt = self.completion = 0

    def add(self, stream: ChatStream) -> None:
        self.calls += 1
        if stream.usage is not None:
            self.prompt += stream.usage.prompt_tokens
            self.completion += stream.usage.completion_tokens


def _messages(plan: SeriesPlan, notes: Sequence[str]) -> list[dict[str, str]]:
    return load_prompt("series_summary", SERIES_PROMPT_VERSION).messages(
        title=plan.title,
        language_instruction=LANGUAGE_INSTRUCTIONS.get(plan.language, LANGUAGE_INSTRUCTIONS["auto"]),
        notes="\n\n".join(notes),
    )


async def _reduce_to_one_batch(plan: SeriesPlan, user: Any, usage: _Usage) -> list[str]:
    """Partial overviews (not streamed) until the notes fit one call."""
    notes = [video.notes() for video in plan.videos]
    for _round in range(SERIES_REDUCE_ROUNDS):  # bounded: partial overviews may not shrink enough
        cut = batches(notes, settings.SERIES_BATCH_TOKENS)
        if len(cut) == 1:
            break
        partials = []
        for batch in cut:
            stream = ChatStream(_messages(plan, batch), purpose=UsageRecord.Purpose.SUMMARY_REDUCE, user=user)
            async for _delta in stream:
                pass
            usage.add(stream)
            partials.append(stream.text)
        notes = partials
    return notes


async def series_stream(plan: SeriesPlan, *, user: Any, regenerate: bool = False) -> AsyncIterator[dict]:
    """The overview's events (see the module docstring)."""
    start = {"type": "start", "videos": plan.video_rows(), "missing": plan.missing}
    if plan.cached is not None and not regenerate:
        cached = plan.cached
        yield {**start, "series_id": cached.pk, "cached": True}
        yield {"type": "token", "text": cached.content}
        yield _done(cached.pk, cached.links, offline=cached.offline, cached=True)
        return
    row = await sync_to_async(series_summary_begin)(
        collection_id=plan.collection_id,
        language=plan.language,
        prompt_version=SERIES_PROMPT_VERSION,
        model=plan.model,
        inputs_key=plan.inputs_key,
        videos=plan.video_rows(),
        user=user,
    )
    yield {**start, "series_id": row.pk, "cached": False}
    checker, usage, text = plan.checker(), _Usage(), ""
    try:
        async for piece in _overview_text(plan, user, checker, usage):
            text += piece
            yield {"type": "token", "text": piece}
    except BaseException as exc:
        error = exc if isinstance(exc, AppError) else AppError(SUMMARY_INTERRUPTED)
        await sync_to_async(series_summary_finish)(series_id=row.pk, content=text, error=error)
        raise
    links = series_links(text, checker)
    await sync_to_async(series_summary_finish)(
        series_id=row.pk,
        content=text,
        links=links,
        offline=not llm_available(),
        llm_calls=usage.calls,
        prompt_tokens=usage.prompt,
        completion_tokens=usage.completion,
    )
    yield _done(row.pk, links, offline=not llm_available(), cached=False)


async def _overview_text(plan: SeriesPlan, user: Any, checker: SourceTimestamps, usage: _Usage) -> AsyncIterator[str]:
    """The overview's text as it comes, labels checked: extractive offline, else from the LLM."""
    if not llm_available():
        yield checker.fix_text(offline_overview(plan))
        return
    notes = await _reduce_to_one_batch(plan, user, usage)
    fixer = SourceTimestampFixer(checker)
    stream = ChatStream(_messages(plan, notes), purpose=UsageRecord.Purpose.SUMMARY, user=user)
    async for delta in stream:
        if safe := fixer.feed(delta):
            yield safe
    usage.add(stream)
    if tail := fixer.flush():
        yield tail


def _done(series_id: int, links: list[dict], *, offline: bool, cached: bool) -> dict:
    return {
        "type": "done",
        "series_id": series_id,
        "status": SeriesSummary.Status.COMPLETE,
        "links": links,
        "offline": offline,
        "cached": cached,
    }

"""Chapters: a part cut into consecutive stretches, each with a title and a one-line gist.

A chapter is `{"start_ms", "end_ms", "title", "gist", "source"}` (chapters made from map-reduce
sections also carry `points`: the section's notes, `[{"start_ms", "text"}]`). A part's chapters
tile it exactly: the first starts at 0, each ends where the next starts, the last ends at the
part's end (`part_end_ms`). Every other start is the start of a real transcript line (cue).

Sources, most trusted first (`source`):
- "uploader": the uploader's own chapters (`VideoPart.uploader_chapters`, from `view_points`);
  their gists come from the summary's key points, else the section notes, else the transcript;
- "sections": a long part's map-reduce sections, titled by their notes (no extra LLM call);
- "llm": a structured-output call on a short part (chat.summaries.chaptering);
- "extractive": offline (or when the call fails): cut where the transcript's vocabulary changes
  most, titles and gists quoted from the transcript.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chat.offline import cosine, split_sentences, tfidf_vectors
from chat.timestamps import TimestampChecker

UPLOADER, SECTIONS, LLM, EXTRACTIVE = "uploader", "sections", "llm", "extractive"
SOURCES = (UPLOADER, SECTIONS, LLM, EXTRACTIVE)
TITLE_MAX_CHARS = 40
GIST_MAX_CHARS = 120
MAX_CHAPTERS = 12
# Fewer uploader chapters than this say nothing about the part's structure: the next source is used.
MIN_UPLOADER_CHAPTERS = 2
# About one extractive chapter per this much of the part.
EXTRACTIVE_CHAPTER_MS = 180_000
# Passages compared on each side of a possible extractive boundary.
WINDOW = 2


@dataclass(frozen=True)
class ChapterDraft:
    """A chapter before tiling: where it starts (any time), its title, gist and notes."""

    start_ms: int
    title: str
    gist: str = ""
    points: tuple[dict, ...] = field(default=())


class TimedText(Protocol):
    """A stretch of transcript with its start: a passage (chat.selectors) or a cue."""

    @property
    def start_ms(self) -> int: ...

    @property
    def text(self) -> str: ...


def part_end_ms(*, duration_seconds: int, transcript_end_ms: int) -> int:
    """Where a part ends: its duration, or later if its transcript runs past it."""
    return max(int(duration_seconds or 0) * 1000, int(transcript_end_ms))


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters (with "…" when cut)."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def chapters_tiled(
    drafts: Sequence[ChapterDraft], *, checker: TimestampChecker, end_ms: int, source: str
) -> list[dict]:
    """Chapters that tile [0, end_ms]: each start moved to a real cue start (`checker`, see
    chat.timestamps; a cue start is kept as it is), the first one to 0.

    Drafts whose start lies outside the transcript, falls onto an earlier draft's start, or has
    no title are dropped. No usable draft gives []."""
    cue_starts = set(checker.starts)
    kept: list[tuple[int, ChapterDraft]] = []
    for draft in sorted(drafts, key=lambda draft: draft.start_ms):
        if not draft.title.strip():
            continue
        start = int(draft.start_ms) if int(draft.start_ms) in cue_starts else checker.snap_to_cue(int(draft.start_ms))
        start = 0 if not kept else start
        if start is None or start >= end_ms or (kept and start <= kept[-1][0]):
            continue
        kept.append((start, draft))
    chapters = []
    for number, (start, draft) in enumerate(kept):
        chapter = {
            "start_ms": start,
            "end_ms": kept[number + 1][0] if number + 1 < len(kept) else end_ms,
            "title": clip(draft.title, TITLE_MAX_CHARS),
            "gist": clip(draft.gist, GIST_MAX_CHARS),
            "source": source,
        }
        if draft.points:
            chapter["points"] = [dict(point) for point in draft.points]
        chapters.append(chapter)
    return chapters


def tiling_errors(chapters: Sequence[dict], *, end_ms: int, cue_starts: Sequence[int]) -> list[str]:
    """What keeps `chapters` from tiling [0, end_ms] at cue starts ([] when they do)."""
    if not chapters:
        return ["no chapters"]
    errors = []
    if chapters[0]["start_ms"] != 0:
        errors.append("the first chapter does not start at 0")
    if chapters[-1]["end_ms"] != end_ms:
        errors.append("the last chapter does not end at the part's end")
    starts = set(cue_starts)
    for before, after in itertools.pairwise(chapters):
        if before["end_ms"] != after["start_ms"]:
            errors.append(f"a gap or overlap at {before['end_ms']}")
        if after["start_ms"] not in starts:
            errors.append(f"{after['start_ms']} is not a cue start")
    errors += [f"an empty chapter at {c['start_ms']}" for c in chapters if c["end_ms"] <= c["start_ms"]]
    return errors


# --- the uploader's chapters ------------------------------------------------------------------------


def uploader_drafts(
    uploader_chapters: Sequence[dict], *, key_points: Sequence[dict], notes: Sequence[dict], texts: Sequence[TimedText]
) -> list[ChapterDraft]:
    """The uploader's chapters, each with a gist: its first key point, else its first section
    note, else its most central transcript sentence."""
    ordered = sorted(uploader_chapters, key=lambda chapter: int(chapter["start_ms"]))
    drafts = []
    for number, chapter in enumerate(ordered):
        start = int(chapter["start_ms"])
        end = int(ordered[number + 1]["start_ms"]) if number + 1 < len(ordered) else None
        gist = _first_inside(key_points, start, end) or _first_inside(notes, start, end)
        if not gist:
            gist = central_sentence(
                " ".join(t.text for t in texts if start <= t.start_ms and (end is None or t.start_ms < end))
            )
        drafts.append(ChapterDraft(start, str(chapter.get("title", "")), gist))
    return drafts


def _first_inside(items: Sequence[dict], start: int, end: int | None) -> str:
    for item in sorted(items, key=lambda item: int(item["start_ms"])):
        if start <= int(item["start_ms"]) and (end is None or int(item["start_ms"]) < end):
            return str(item["text"])
    return ""


# --- extractive chapters (offline) --------------------------------------------------------------------


def extractive_drafts(texts: Sequence[TimedText], *, end_ms: int) -> list[ChapterDraft]:
    """Chapters quoted from the transcript: cut where neighbouring passages share the fewest
    words (about one per EXTRACTIVE_CHAPTER_MS, at most MAX_CHAPTERS), each titled by its most
    central sentence and summed up by the next most central one."""
    texts = [text for text in texts if text.text.strip()]
    if not texts:
        return []
    count = min(MAX_CHAPTERS, len(texts), max(1, round(end_ms / EXTRACTIVE_CHAPTER_MS)))
    cuts = _extractive_cuts(texts, count)
    drafts = []
    for first, last in zip([0, *cuts], [*cuts, len(texts)], strict=True):
        sentences = [sentence for text in texts[first:last] for sentence in split_sentences(text.text)]
        ranked = ranked_sentences(sentences)
        title = ranked[0] if ranked else texts[first].text
        gist = next((sentence for sentence in ranked[1:] if sentence != title), title)
        drafts.append(ChapterDraft(texts[first].start_ms, title, gist))
    return drafts


def _extractive_cuts(texts: Sequence[TimedText], count: int) -> list[int]:
    """`count - 1` indices where a chapter starts: the least similar neighbourhoods, kept apart."""
    if count <= 1:
        return []
    vectors = tfidf_vectors([text.text for text in texts])
    gaps = []
    for index in range(1, len(texts)):
        before = _merged(vectors[max(0, index - WINDOW) : index])
        after = _merged(vectors[index : index + WINDOW])
        gaps.append((cosine(before, after), index))
    spacing = max(1, len(texts) // (2 * count))
    cuts: list[int] = []
    for _, index in sorted(gaps):
        if len(cuts) == count - 1:
            break
        if index >= spacing and len(texts) - index >= spacing and all(abs(index - cut) >= spacing for cut in cuts):
            cuts.append(index)
    return sorted(cuts)


def _merged(vectors: Sequence[dict[str, float]]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for vector in vectors:
        for term, weight in vector.items():
            merged[term] = merged.get(term, 0.0) + weight
    return merged


def ranked_sentences(sentences: Sequence[str]) -> list[str]:
    """Distinct sentences, most central first (very short ones count less)."""
    distinct = list(dict.fromkeys(sentence.strip() for sentence in sentences if sentence.strip()))
    if len(distinct) <= 1:
        return distinct
    whole, *vectors = tfidf_vectors([" ".join(distinct), *distinct])
    scores = [cosine(vector, whole) * min(1.0, len(text) / 12) for vector, text in zip(vectors, distinct, strict=True)]
    order = sorted(range(len(distinct)), key=lambda index: (-scores[index], index))
    return [distinct[index] for index in order]


def central_sentence(text: str) -> str:
    """The most central sentence of `text` ("" for none)."""
    ranked = ranked_sentences(split_sentences(text))
    return ranked[0] if ranked else ""


def chapters_derived(
    *,
    uploader_chapters: Sequence[dict],
    key_points: Sequence[dict],
    texts: Sequence[TimedText],
    checker: TimestampChecker,
    end_ms: int,
    fallback_title: str,
) -> list[dict]:
    """Chapters without any LLM call, for a summary stored without them (made before chapters
    existed): the uploader's, else extractive ones."""
    if uploader_chapters:
        drafts = uploader_drafts(uploader_chapters, key_points=key_points, notes=[], texts=texts)
        chapters = chapters_tiled(drafts, checker=checker, end_ms=end_ms, source=UPLOADER)
        if len(chapters) >= MIN_UPLOADER_CHAPTERS:
            return chapters
    drafts = extractive_drafts(texts, end_ms=end_ms) or [ChapterDraft(0, fallback_title)]
    return chapters_tiled(drafts, checker=checker, end_ms=end_ms, source=EXTRACTIVE)

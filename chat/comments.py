"""Comment drafts: three Bilibili-style comments in a chosen tone, grounded in the part's summary
and its danmaku highlights. Drafts are suggestions for the user; nothing is ever posted.

    async for event in comment_drafts_stream(part, tone="幽默", user=request.user):
        ...

Events:
- {"type": "start", "tone", "offline", "model"}
- {"type": "progress", "stage": "summary"}  when the summary has to be made first
- {"type": "token", "text": "…"}  the drafts as numbered lines, timestamps checked
Moments are written the way Bilibili comments write them, a plain `mm:ss` (Bilibili makes it a
seek link): the model cites `[mm:ss]` so the times can be checked against the transcript, and
`bilibili_moments` takes the brackets off before anything leaves this module.
- {"type": "done", "drafts": [str, str, str], "comment_set": CommentDraftSet.to_dict()}
- {"type": "error", "code", "message", "status": "failed"|"interrupted", "content": partial text}
Without an API key the drafts come from the highlights and key sentences (chat.offline).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from asgiref.sync import sync_to_async

from chat.errors import BAD_TONE
from chat.highlights import Highlight, highlights_prompt_text
from chat.llm import OFFLINE_MODEL, ChatStream, LLMError, chat_model, llm_available, user_id_of
from chat.models import Summary, UsageRecord
from chat.offline import offline_comment_drafts
from chat.prompts import load_prompt
from chat.selectors import asummary_current, part_transcript
from chat.services.comments import comment_draft_set_create
from chat.summaries import summary_stream
from chat.summaries.planning import LANGUAGE_INSTRUCTIONS
from chat.timestamps import TIMESTAMP_PATTERN, StreamingTimestampFixer, TimestampChecker
from core.errors import AppError

COMMENTS_PROMPT_VERSION = "v1"
DRAFT_COUNT = 3
# Tone → what it asks of the model. English names are accepted as aliases.
TONES = {
    "认真": "认真、真诚，说出具体的收获或观点",
    "幽默": "轻松幽默，可以玩梗，但不刻薄",
    "提问": "向 UP 主或其他观众提一个具体的问题",
    "夸夸": "真诚地夸奖视频的具体优点",
}
TONE_ALIASES = {"serious": "认真", "funny": "幽默", "question": "提问", "praise": "夸夸"}
_NUMBERED = re.compile(r"^\s*(?:\d+[.、)）:：]|[-*•])\s*(.+?)\s*$")


def normalize_tone(tone: str) -> str:
    """The tone's Chinese name; raises AppError(BAD_TONE) for an unknown tone."""
    name = TONE_ALIASES.get(tone.strip().lower(), tone.strip())
    if name not in TONES:
        raise AppError(BAD_TONE, tone=tone, tones=", ".join(TONES))
    return name


def bilibili_moments(text: str) -> str:
    """Our `[mm:ss]` (or `【mm:ss】`) markers as Bilibili comments write a moment: plain `mm:ss`."""
    return TIMESTAMP_PATTERN.sub(lambda match: match.group("start"), text)


def drafts_from_text(text: str) -> list[str]:
    """The drafts in a reply of numbered (or bulleted) lines; other lines are left out."""
    drafts = []
    for line in text.splitlines():
        match = _NUMBERED.match(line)
        if match and match.group(1).strip():
            drafts.append(match.group(1).strip())
    return drafts[:DRAFT_COUNT]


async def comment_drafts_stream(
    part: Any, *, tone: str = "认真", user: Any = None, language: str = "zh"
) -> AsyncIterator[dict]:
    """The events of one set of comment drafts (see the module docstring)."""
    tone = normalize_tone(tone)
    part_id = part if isinstance(part, int) else part.pk
    offline = not llm_available()
    yield {"type": "start", "tone": tone, "offline": offline, "model": OFFLINE_MODEL if offline else chat_model()}
    summary = await asummary_current(part_id=part_id, language=language)
    if summary is None:
        yield {"type": "progress", "stage": "summary"}
        async for event in summary_stream(part_id, language, user):
            if event["type"] == "error":  # no summary, no drafts: the summary's error ends this stream
                yield event
                return
        summary = await asummary_current(part_id=part_id, language=language)
        assert summary is not None
    highlights = [Highlight.from_dict(item) for item in summary.highlights]
    if offline:
        drafts = [bilibili_moments(draft) for draft in await _offline_drafts(part_id, tone, summary, highlights)]
        yield {"type": "token", "text": _numbered(drafts)}
        yield await _done(part_id, user, summary, tone, drafts, model=OFFLINE_MODEL, offline=True)
        return
    async for event in _llm_drafts(part_id, tone, user, language, summary, highlights):
        yield event


async def _offline_drafts(part_id: int, tone: str, summary: Summary, highlights: list[Highlight]) -> list[str]:
    """Drafts quoting key points (at cue starts) and highlights, each moved to the line it falls on."""
    transcript = await sync_to_async(part_transcript)(part_id=part_id)
    checker = TimestampChecker.from_cues(transcript.cues)
    at_lines = [replace(item, start_ms=_at_line(checker, item.start_ms)) for item in highlights]
    return offline_comment_drafts(tone, title=transcript.title, key_points=summary.key_points, highlights=at_lines)


def _at_line(checker: TimestampChecker, ms: int) -> int:
    snapped = checker.snap_to_cue(ms)
    return ms if snapped is None else snapped


async def _llm_drafts(
    part_id: int, tone: str, user: Any, language: str, summary: Summary, highlights: list[Highlight]
) -> AsyncIterator[dict]:
    transcript = await sync_to_async(part_transcript)(part_id=part_id)
    messages = load_prompt("comments", COMMENTS_PROMPT_VERSION).messages(
        title=transcript.title,
        tone=tone,
        tone_instruction=TONES[tone],
        language_instruction=LANGUAGE_INSTRUCTIONS[language],
        summary=summary.content,
        highlights=highlights_prompt_text(highlights),
    )
    stream = ChatStream(messages, purpose=UsageRecord.Purpose.COMMENTS, user=user, temperature=0.9)
    fixer = StreamingTimestampFixer(TimestampChecker.from_cues(transcript.cues))  # references: cue starts
    text = ""
    try:
        async for delta in stream:
            fixed = bilibili_moments(fixer.feed(delta))
            text += fixed
            if fixed:
                yield {"type": "token", "text": fixed}
    except LLMError as exc:
        partial = text + bilibili_moments(fixer.flush())
        status = "interrupted" if exc.interrupted else "failed"
        yield {"type": "error", "code": exc.code, "message": exc.message(), "status": status, "content": partial}
        return
    rest = bilibili_moments(fixer.flush())
    if rest:
        yield {"type": "token", "text": rest}
    usage = stream.usage
    yield await _done(
        part_id,
        user,
        summary,
        tone,
        drafts_from_text(text + rest),
        model=stream.model,
        offline=False,
        tokens=(usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0),
    )


async def _done(
    part_id: int,
    user: Any,
    summary: Summary,
    tone: str,
    drafts: list[str],
    *,
    model: str,
    offline: bool,
    tokens: tuple[int, int] = (0, 0),
) -> dict:
    comment_set = await sync_to_async(comment_draft_set_create)(
        user_id=user_id_of(user),
        part_id=part_id,
        summary=summary,
        tone=tone,
        drafts=drafts,
        model=model,
        offline=offline,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
    )
    return {"type": "done", "drafts": drafts, "comment_set": comment_set.to_dict()}


def _numbered(drafts: list[str]) -> str:
    return "".join(f"{number}. {draft}\n" for number, draft in enumerate(drafts, start=1))

"""The stream every summary request reads: claim the row (cached, follow or lead), then the events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async

from chat.errors import SUMMARY_FAILED
from chat.llm import user_id_of
from chat.models import Summary
from chat.services.summaries import summary_claim
from chat.summaries.follower import Follower
from chat.summary_keys import summary_key
from core.errors import AppError


async def summary_stream(
    part: Any, language: str = "zh", user: Any = None, *, regenerate: bool = False, style: str = "standard"
) -> AsyncIterator[dict]:
    """The events of a part's summary (see chat.summaries). `part` is a VideoPart or its id;
    `style` a style key (chat.styles.style_key: the gate makes it from the requested style)."""
    part_id = part if isinstance(part, int) else part.pk
    user_id = user_id_of(user)
    key = summary_key(part_id=part_id, language=language, style=style)
    role, summary = await sync_to_async(summary_claim)(key=key, user_id=user_id, regenerate=regenerate)
    yield _start_event(summary, cached=role == "cached")
    if role == "cached":
        if summary.content:
            yield {"type": "token", "text": summary.content}
        yield {"type": "done", "cached": True, "summary": summary.to_dict()}
        return
    follower = Follower(summary, user_id)
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
    """Run `summary_stream` to its end and return the finished row.

    A summary that could not be made raises the AppError it failed with (its stored code and
    params: llm_failed, no_transcript, ...), or summary_failed when none was stored.
    """
    summary_id = None
    async for event in summary_stream(part, language, user):
        if event["type"] == "start":
            summary_id = event["summary_id"]
        elif event["type"] == "error":
            summary = await Summary.objects.aget(pk=summary_id)
            if summary.error_code:
                raise AppError.from_stored(summary.error_code, summary.error_params)
            raise AppError(SUMMARY_FAILED)
    return await Summary.objects.aget(pk=summary_id)

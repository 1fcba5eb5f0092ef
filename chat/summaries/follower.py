"""One request's view of a summary's generation: the group's messages, with the database filling
any gap (a late arrival, dropped messages, a run that ended unheard), and a stale run taken over."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat.errors import NO_CHANNEL_LAYER
from chat.models import Summary
from chat.services.summaries import summary_is_stale, summary_takeover
from chat.summaries.generation import generation_start, group_name
from core.errors import AppError, stored_error_message

logger = logging.getLogger(__name__)

ENDING_EVENTS = ("done", "error")


def error_event(summary: Summary) -> dict:
    """The event for a run that ended without a summary: code summary_failed or summary_interrupted."""
    code = "summary_" + summary.status
    return {
        "type": "error",
        "code": code,
        "message": summary.error or stored_error_message(code),
        "status": summary.status,
        "content": summary.content,
    }


class Follower:
    """Follow one summary's generation (`async with follower.subscribed():` then `events()`)."""

    def __init__(self, summary: Summary, user_id: int | None) -> None:
        self.summary_id = summary.pk
        self.generation_id = summary.generation_id
        self.user_id = user_id
        self.text = ""  # what this request has sent on
        self.sections_sent = 0  # how many of a long part's sections it has sent on
        self.layer = get_channel_layer()
        self.channel = ""
        self.task: asyncio.Task | None = None

    def subscribed(self) -> _Subscription:
        return _Subscription(self)

    def start_generation(self, generation_id: str) -> None:
        self.generation_id = generation_id
        self.task = generation_start(self.summary_id, generation_id, self.user_id)

    async def events(self) -> AsyncIterator[dict]:
        async for event in self._catch_up(await Summary.objects.aget(pk=self.summary_id)):
            yield event
            if event["type"] in ENDING_EVENTS:
                return
        poll = min(1.0, float(settings.SUMMARY_STALE_SECONDS) / 3)
        while True:
            try:
                message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=poll)
            except TimeoutError:
                message = None
            async for event in self._on_message(message) if message else self._on_silence():
                yield event
                if event["type"] in ENDING_EVENTS:
                    if self.task is not None:  # wait for it, not for its outcome: a cancelled one saved its text
                        await asyncio.wait([self.task])
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
            if self.text or self.sections_sent:
                self.text, self.sections_sent = "", 0
                yield {"type": "reset"}
        if summary.status == Summary.Status.GENERATING:
            for section in self._unsent_sections(summary):
                yield section
        if len(content) > len(self.text):
            yield {"type": "token", "text": content[len(self.text) :]}
            self.text = content
        if summary.status == Summary.Status.COMPLETE:
            yield {"type": "done", "cached": False, "summary": summary.to_dict()}
        elif summary.status != Summary.Status.GENERATING:
            yield error_event(summary)

    async def _on_message(self, message: dict) -> AsyncIterator[dict]:
        if message.get("generation") != self.generation_id:
            return
        event = message["event"]
        if event["type"] == "token":
            async for token in self._token(event["offset"], event["text"]):
                yield token
        elif event["type"] == "progress":
            yield event
        elif event["type"] == "section":
            if event["index"] == self.sections_sent:
                self.sections_sent += 1
                yield event
            elif event["index"] > self.sections_sent:  # messages were dropped: read what was saved
                for section in self._unsent_sections(await Summary.objects.aget(pk=self.summary_id)):
                    yield section
        else:  # done or error: the row is saved before either is published
            async for final in self._catch_up(await Summary.objects.aget(pk=self.summary_id)):
                yield final

    def _unsent_sections(self, summary: Summary) -> list[dict]:
        """The sections saved on a generating row beyond those sent (chat.summaries.sections)."""
        if summary.generation_id != self.generation_id:
            return []
        saved = summary.chapters[self.sections_sent :]
        self.sections_sent += len(saved)
        return [{"type": "section", **section} for section in saved]

    async def _token(self, offset: int, text: str) -> AsyncIterator[dict]:
        if offset > len(self.text):  # messages were dropped (a full channel): read what was saved
            async for saved in self._saved_text_up_to(offset):
                yield saved
        fresh = text[len(self.text) - offset :] if offset <= len(self.text) else ""
        if fresh:
            self.text += fresh
            yield {"type": "token", "text": fresh}

    async def _saved_text_up_to(self, offset: int) -> AsyncIterator[dict]:
        """The saved text beyond what was sent, waiting up to 5 s for it to reach `offset`."""
        deadline = time.monotonic() + 5.0
        while offset > len(self.text) and time.monotonic() < deadline:
            summary = await Summary.objects.aget(pk=self.summary_id)
            if summary.generation_id == self.generation_id and summary.content.startswith(self.text):
                if len(summary.content) > len(self.text):
                    yield {"type": "token", "text": summary.content[len(self.text) :]}
                    self.text = summary.content
            if offset > len(self.text):
                await asyncio.sleep(0.05)

    async def _on_silence(self) -> AsyncIterator[dict]:
        """No message for a while: the run may have ended unheard, moved on, or died."""
        summary = await Summary.objects.aget(pk=self.summary_id)
        if summary.status == Summary.Status.GENERATING and summary.generation_id == self.generation_id:
            if not summary_is_stale(summary):
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


class _Subscription:
    """`async with`: the follower's channel is in the summary's group (added before anything runs)."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower

    async def __aenter__(self) -> Follower:
        follower = self.follower
        if follower.layer is None:
            raise AppError(NO_CHANNEL_LAYER)
        follower.channel = await follower.layer.new_channel()
        await follower.layer.group_add(group_name(follower.summary_id), follower.channel)
        return follower

    async def __aexit__(self, *exc_info: object) -> None:
        follower = self.follower
        await follower.layer.group_discard(group_name(follower.summary_id), follower.channel)

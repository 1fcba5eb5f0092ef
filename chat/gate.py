"""The one generation gate: every entry point that may call the LLM opens its stream here.

    events = await generation_open(user=user, bvid="BV1xx411c7mD", page=1, order=AnswerOrder("糖色？"))
    async for event in events: ...   # or await events.aclose() to give it up

The websocket consumer, the API (JSON and SSE), `manage.py summarize` and the admin's
regenerate action all call `generation_open`, so the same bad input gets the same code:

0. a summary's style becomes its style key: AppError bad_style (422) or template_not_found (404:
   a custom template must be the user's own; the CLI and admin, with no user, may use any);
1. resolve the part: AppError part_not_found (404);
2. the part is ready: AppError part_not_ready (409, details stage and percent) or ingest_failed (409);
3. quota: AppError quota_exceeded (429, retry_after). The current cached summary is free
   (chat.selectors.summary_current), as is everything without a user (the CLI);
3b. the site's daily budget (chat.budget): AppError site_budget_exhausted (503, retry_after until
   midnight) for anything that would call the LLM; free orders and offline mode pass;
4. reserve (unless offline: no LLM call to count): a QuotaReservation row, written with the
   quota check under a per-user lock, so a burst of simultaneous requests cannot all pass a
   per-minute limit (chat.services.quotas);
5. the stream: a `GateStream` of the generation's events. Its reservation is released when
   it ends, fails, is cancelled or is closed (even unread); from then on the usage records its
   LLM calls wrote count instead. A video answer releases it itself, in the statement that saves
   the answer's end (chat.conversations.AnswerRun; one trip to the database, issue 12); the
   stream releases whatever is still reserved when it closes.

Errors raised by the stream before its first event (conversation_not_found, bad_tone, ...)
surface from the first `anext`; an entry point that needs an HTTP status awaits that first.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import Any

from asgiref.sync import sync_to_async

from chat.budget import site_budget_check
from chat.comments import comment_drafts_stream
from chat.conversations import answer_stream
from chat.library_chat import library_answer_stream, library_scope_open
from chat.llm import llm_available
from chat.models import UsageRecord
from chat.quotas import quota_check
from chat.selectors import summary_current
from chat.series import series_plan, series_stream
from chat.services.quotas import Reservation, quota_release, quota_reserve
from chat.styles import style_key
from chat.summaries import summary_stream
from core import metrics
from videos.models import VideoPart
from videos.selectors import part_get_or_404, part_require_ready


@dataclass(frozen=True)
class SummaryOrder:
    language: str = "zh"
    regenerate: bool = False
    style: str = "standard"  # as asked ("brief", "custom:<id>", ...); the gate makes it a style key
    purpose = UsageRecord.Purpose.SUMMARY


@dataclass(frozen=True)
class AnswerOrder:
    question: str
    conversation_id: int | None = None
    language: str = "auto"
    purpose = UsageRecord.Purpose.CHAT


@dataclass(frozen=True)
class CommentsOrder:
    tone: str
    language: str = "zh"
    purpose = UsageRecord.Purpose.COMMENTS


@dataclass(frozen=True)
class LibraryAnswerOrder:
    """A question across a collection's videos (collection_id) or the whole library (None)."""

    question: str
    collection_id: int | None = None
    conversation_id: int | None = None
    language: str = "auto"
    purpose = UsageRecord.Purpose.CHAT


@dataclass(frozen=True)
class SeriesSummaryOrder:
    """The overview of a collection from its videos' summaries (chat.series)."""

    collection_id: int
    language: str = "zh"
    regenerate: bool = False
    purpose = UsageRecord.Purpose.SUMMARY


Order = SummaryOrder | AnswerOrder | CommentsOrder


class GateStream:
    """The admitted generation's events. Ending, failing or closing it releases its reservation."""

    def __init__(self, events: AsyncGenerator[dict], *, part: VideoPart | None, reservation: Reservation) -> None:
        self.part = part
        self._events = events
        self._reservation = reservation  # its id is None once released (here, or by the events' end)

    def __aiter__(self) -> GateStream:
        return self

    async def __anext__(self) -> dict:
        try:
            return await anext(self._events)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        try:
            await self._events.aclose()  # an answer closed here releases the reservation as it saves its end
        finally:
            reservation_id, self._reservation.id = self._reservation.id, None
            if reservation_id is not None:
                await sync_to_async(quota_release)(reservation_id=reservation_id)


async def generation_open(*, user: Any, bvid: str, page: int, order: Order) -> GateStream:
    """Admit one generation (see the module docstring); raises AppError before any event."""
    if isinstance(order, SummaryOrder):  # bad_style 422, template_not_found 404 (chat.styles)
        order = replace(order, style=await sync_to_async(style_key)(style=order.style, user=user))
    part, reservation_id = await sync_to_async(_part_admitted)(user=user, bvid=bvid, page=page, order=order)
    reservation = Reservation(reservation_id)
    return GateStream(_events(order, part, user, reservation), part=part, reservation=reservation)


def _part_admitted(*, user: Any, bvid: str, page: int, order: Order) -> tuple[VideoPart, int | None]:
    """Steps 1-4 in one trip to the database thread: the part, ready, admitted (and its reservation)."""
    part = part_get_or_404(bvid=bvid, page=page)
    part_require_ready(part)
    return part, _admit(user=user, part_id=part.pk, order=order)


async def library_generation_open(*, user: Any, order: LibraryAnswerOrder | SeriesSummaryOrder) -> GateStream:
    """The gate for generations over many parts, in the same order: resolve the scope
    (collection_not_found 404), ready (library_empty / series_no_summaries 409), quota, reserve.
    A cached series summary is free."""
    if isinstance(order, LibraryAnswerOrder):
        scope = await sync_to_async(library_scope_open)(user=user, collection_id=order.collection_id)
        events = library_answer_stream(
            user=user,
            scope=scope,
            question=order.question,
            conversation_id=order.conversation_id,
            language=order.language,
        )
        free = False
    else:
        plan = await sync_to_async(series_plan)(user=user, collection_id=order.collection_id, language=order.language)
        events = series_stream(plan, user=user, regenerate=order.regenerate)
        free = plan.cached is not None and not order.regenerate
    reservation_id = None if free else await sync_to_async(_admit)(user=user, part_id=0, order=order)
    return GateStream(events, part=None, reservation=Reservation(reservation_id))


@metrics.counts_quota_rejections  # chatbili_quota_rejections_total{code} (issue 15)
def _admit(*, user: Any, part_id: int, order: Order | LibraryAnswerOrder | SeriesSummaryOrder) -> int | None:
    """Check the quota and reserve a request; None when the order is free (nothing reserved)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None  # the CLI: the operator has no quota
    if isinstance(order, SummaryOrder) and not order.regenerate:
        if summary_current(part_id=part_id, language=order.language, style=order.style) is not None:
            return None
    if not llm_available():
        quota_check(user)  # offline: no LLM call, so nothing to reserve
        return None
    site_budget_check()  # the whole site's daily budget: site_budget_exhausted (503)
    return quota_reserve(user=user, purpose=order.purpose)


def _events(order: Order, part: VideoPart, user: Any, reservation: Reservation) -> AsyncGenerator[dict]:
    if isinstance(order, SummaryOrder):
        return summary_stream(part, order.language, user, regenerate=order.regenerate, style=order.style)
    if isinstance(order, AnswerOrder):
        return answer_stream(
            user=user,
            part=part,
            question=order.question,
            conversation_id=order.conversation_id,
            language=order.language,
            reservation=reservation,
        )
    return comment_drafts_stream(part, tone=order.tone, user=user, language=order.language)

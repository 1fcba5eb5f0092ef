"""Per-user LLM quotas: a daily token budget and requests per minute, counted from UsageRecord.

- Daily tokens: prompt + completion tokens of every LLM call the user caused (map calls of a
  long summary included) since local midnight (TIME_ZONE). Over budget until the next midnight.
- Requests per minute: one "request" is one user action that reached the LLM, i.e. the
  UsageRecord rows with a request purpose (a summary, its reduce step for long videos, comment
  drafts, a chat answer) created in the last 60 seconds. A long summary's map calls cost tokens
  but not requests. Reading something cached, or offline mode, calls no LLM and counts nothing.

Limits: `UserQuota` fields override QUOTA_DAILY_TOKENS and QUOTA_REQUESTS_PER_MINUTE per user;
0 means unlimited. `quota_check` runs before anything that may call the LLM (pages, websocket,
API alike). A UsageRecord is written when its call ends, so calls still streaming are not yet
counted: a burst of concurrent requests can pass together, and the last call admitted may
overshoot the budget. That is the price of counting from one table with no extra write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat.models import Summary, UsageRecord, UserQuota
from chat.selectors import summary_current

REQUEST_WINDOW = timedelta(minutes=1)
REQUEST_PURPOSES = (
    UsageRecord.Purpose.SUMMARY,
    UsageRecord.Purpose.SUMMARY_REDUCE,
    UsageRecord.Purpose.COMMENTS,
    UsageRecord.Purpose.CHAT,
)


class QuotaExceeded(Exception):
    """The user may not call the LLM now; `retry_after_seconds` says when they may again.

    `code` is always "quota_exceeded"; `limit` says which one: "daily_tokens" or "requests_per_minute".
    """

    code = "quota_exceeded"

    def __init__(self, limit: str, message_zh: str, message_en: str, *, retry_after_seconds: int) -> None:
        super().__init__(f"{message_zh} / {message_en}")
        self.limit = limit
        self.message_zh = message_zh
        self.message_en = message_en
        self.retry_after_seconds = retry_after_seconds

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class QuotaLimits:
    daily_tokens: int  # 0: unlimited
    requests_per_minute: int  # 0: unlimited


def quota_limits(user: Any) -> QuotaLimits:
    """The user's limits: their UserQuota overrides, else the settings."""
    daily = settings.QUOTA_DAILY_TOKENS
    per_minute = settings.QUOTA_REQUESTS_PER_MINUTE
    override = UserQuota.objects.filter(user_id=user.pk).first()
    if override is not None:
        daily = override.daily_token_budget if override.daily_token_budget is not None else daily
        per_minute = override.requests_per_minute if override.requests_per_minute is not None else per_minute
    return QuotaLimits(daily_tokens=daily, requests_per_minute=per_minute)


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Local midnight (TIME_ZONE) at or before `now`, and the next one."""
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class _Counts:
    tokens_today: int
    requests_last_minute: int
    oldest_request_at: datetime | None


def _counts(user: Any, now: datetime) -> _Counts:
    day_start, _ = day_bounds(now)
    minute_ago = now - REQUEST_WINDOW
    in_minute = Q(created_at__gt=minute_ago, purpose__in=REQUEST_PURPOSES)
    row = UsageRecord.objects.filter(user_id=user.pk, created_at__gte=min(day_start, minute_ago)).aggregate(
        tokens=Coalesce(Sum(F("prompt_tokens") + F("completion_tokens"), filter=Q(created_at__gte=day_start)), 0),
        requests=Count("id", filter=in_minute),
        oldest=Min("created_at", filter=in_minute),
    )
    return _Counts(row["tokens"], row["requests"], row["oldest"])


def quota_check(user: Any) -> None:
    """Raise QuotaExceeded when the user is over their daily tokens or requests per minute."""
    now = timezone.now()
    limits = quota_limits(user)
    counts = _counts(user, now)
    if limits.daily_tokens and counts.tokens_today >= limits.daily_tokens:
        _, next_midnight = day_bounds(now)
        raise QuotaExceeded(
            "daily_tokens",
            f"今日的 {limits.daily_tokens} 个 token 额度已用完",
            f"Daily budget of {limits.daily_tokens} LLM tokens used up",
            retry_after_seconds=max(1, math.ceil((next_midnight - now).total_seconds())),
        )
    if limits.requests_per_minute and counts.requests_last_minute >= limits.requests_per_minute:
        assert counts.oldest_request_at is not None
        frees_at = counts.oldest_request_at + REQUEST_WINDOW
        raise QuotaExceeded(
            "requests_per_minute",
            f"请求过于频繁：每分钟最多 {limits.requests_per_minute} 次",
            f"Too many requests: at most {limits.requests_per_minute} per minute",
            retry_after_seconds=max(1, math.ceil((frees_at - now).total_seconds())),
        )


aquota_check = sync_to_async(quota_check)


def quota_check_for_summary(user: Any, *, part_id: int, language: str, regenerate: bool = False) -> Summary | None:
    """The cached summary, free to serve; else (or to regenerate) `quota_check` and None."""
    cached = None if regenerate else summary_current(part_id=part_id, language=language)
    if cached is None:
        quota_check(user)
    return cached


aquota_check_for_summary = sync_to_async(quota_check_for_summary)


def usage_summary(user: Any) -> dict:
    """What the user has used and may still use, for the account page and the API."""
    now = timezone.now()
    limits = quota_limits(user)
    counts = _counts(user, now)
    day_start, next_midnight = day_bounds(now)
    today = UsageRecord.objects.filter(user_id=user.pk, created_at__gte=day_start)
    by_purpose = today.values("purpose").annotate(
        calls=Count("id"), tokens=Sum(F("prompt_tokens") + F("completion_tokens"))
    )
    return {
        "daily_token_budget": limits.daily_tokens,
        "tokens_used_today": counts.tokens_today,
        "tokens_remaining_today": (
            None if not limits.daily_tokens else max(0, limits.daily_tokens - counts.tokens_today)
        ),
        "requests_per_minute": limits.requests_per_minute,
        "requests_last_minute": counts.requests_last_minute,
        "resets_at": next_midnight,
        "calls_today": sum(row["calls"] for row in by_purpose),
        "by_purpose": [
            {"purpose": row["purpose"], "calls": row["calls"], "tokens": row["tokens"] or 0}
            for row in sorted(by_purpose, key=lambda row: row["purpose"])
        ],
    }

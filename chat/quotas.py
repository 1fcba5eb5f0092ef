"""Per-user LLM quotas: a daily token budget and requests per minute, counted from UsageRecord.

- Daily tokens: prompt + completion tokens of every LLM call the user caused (map calls of a
  long summary included) since local midnight (TIME_ZONE). Over budget until the next midnight.
- Requests per minute: one "request" is one user action that reached the LLM, i.e. the
  UsageRecord rows with a request purpose (a summary, its reduce step for long videos, comment
  drafts, a chat answer) created in the last 60 seconds. A long summary's map calls cost tokens
  but not requests. Reading something cached, or offline mode, calls no LLM and counts nothing.

Limits: `UserQuota` fields override QUOTA_DAILY_TOKENS and QUOTA_REQUESTS_PER_MINUTE per user;
0 means unlimited. `quota_check` runs in the generation gate (chat.gate) before anything that
may call the LLM (pages, websocket, API, CLI alike). A UsageRecord is written when its call ends,
so the gate also writes a QuotaReservation for each request it admits (chat.services.quotas),
under a per-user lock; the per-minute count includes those rows, so a burst of N simultaneous
requests with a limit of k admits exactly k. Tokens are known only when a call ends: the last
call admitted may overshoot the daily budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Sum
from django.utils import timezone

from chat.errors import QUOTA_EXCEEDED
from chat.models import QuotaReservation, UsageRecord, UserQuota
from core.errors import AppError

REQUEST_WINDOW = timedelta(minutes=1)
REQUEST_PURPOSES = (
    UsageRecord.Purpose.SUMMARY,
    UsageRecord.Purpose.SUMMARY_REDUCE,
    UsageRecord.Purpose.COMMENTS,
    UsageRecord.Purpose.CHAT,
)


@dataclass(frozen=True)
class QuotaLimits:
    daily_tokens: int  # 0: unlimited
    requests_per_minute: int  # 0: unlimited


def quota_limits(user: Any) -> QuotaLimits:
    """The user's limits: their UserQuota overrides, else the settings."""
    override = UserQuota.objects.filter(user_id=user.pk).values_list("daily_token_budget", "requests_per_minute")
    return _limits(*(override.first() or (None, None)))


def _limits(daily_override: int | None, per_minute_override: int | None) -> QuotaLimits:
    return QuotaLimits(
        daily_tokens=settings.QUOTA_DAILY_TOKENS if daily_override is None else daily_override,
        requests_per_minute=settings.QUOTA_REQUESTS_PER_MINUTE if per_minute_override is None else per_minute_override,
    )


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


# The user's overrides, today's tokens and the last minute's requests (usage records and running
# reservations) in one statement: the gate runs it for every LLM request (issue 12), within the
# reservation's statement (chat.services.quotas), so its columns have names.
LIMITS_AND_COUNTS_SQL = f"""
SELECT quota.daily_token_budget AS daily, quota.requests_per_minute AS per_minute, used.tokens,
       used.requests AS used_requests, used.oldest AS used_oldest,
       reserved.requests AS reserved_requests, reserved.oldest AS reserved_oldest
FROM (
    SELECT COALESCE(SUM(prompt_tokens + completion_tokens) FILTER (WHERE created_at >= %(day_start)s), 0),
           COUNT(*) FILTER (WHERE created_at > %(minute_ago)s AND purpose = ANY(%(purposes)s)),
           MIN(created_at) FILTER (WHERE created_at > %(minute_ago)s AND purpose = ANY(%(purposes)s))
    FROM {UsageRecord._meta.db_table}
    WHERE user_id = %(user_id)s AND created_at >= LEAST(%(day_start)s, %(minute_ago)s)
) AS used (tokens, requests, oldest)
CROSS JOIN (
    SELECT COUNT(*), MIN(created_at) FROM {QuotaReservation._meta.db_table}
    WHERE user_id = %(user_id)s AND created_at > %(minute_ago)s
) AS reserved (requests, oldest)
LEFT JOIN {UserQuota._meta.db_table} AS quota ON quota.user_id = %(user_id)s
"""  # noqa: S608 - table names from the models; values are parameters


def limits_and_counts_params(user: Any, now: datetime) -> dict[str, Any]:
    """The parameters of LIMITS_AND_COUNTS_SQL."""
    day_start, _ = day_bounds(now)
    return {
        "user_id": user.pk,
        "day_start": day_start,
        "minute_ago": now - REQUEST_WINDOW,
        "purposes": [str(purpose) for purpose in REQUEST_PURPOSES],
    }


def limits_and_counts_of(row: Sequence[Any]) -> tuple[QuotaLimits, _Counts]:
    """The user's limits and counts from LIMITS_AND_COUNTS_SQL's row."""
    daily, per_minute, tokens, used, used_oldest, reserved, reserved_oldest = row
    oldest = min((at for at in (used_oldest, reserved_oldest) if at is not None), default=None)
    return _limits(daily, per_minute), _Counts(int(tokens), used + reserved, oldest)


def _limits_and_counts(user: Any, now: datetime) -> tuple[QuotaLimits, _Counts]:
    with connection.cursor() as cursor:
        cursor.execute(LIMITS_AND_COUNTS_SQL, limits_and_counts_params(user, now))
        return limits_and_counts_of(cursor.fetchone())


def _exceeded(limit_name: str, limit: int, retry_at: datetime, now: datetime) -> AppError:
    return AppError(
        QUOTA_EXCEEDED,
        retry_after=max(1, math.ceil((retry_at - now).total_seconds())),
        details={"limit": limit_name},
        limit_name=limit_name,
        limit=limit,
        reason=QUOTA_REASONS[limit_name](limit),
    )


QUOTA_REASONS = {
    "daily_tokens": lambda limit: {
        "zh": f"今日的 {limit} 个 token 额度已用完",
        "en": f"Daily budget of {limit} LLM tokens used up",
    },
    "requests_per_minute": lambda limit: {
        "zh": f"请求过于频繁：每分钟最多 {limit} 次",
        "en": f"Too many requests: at most {limit} per minute",
    },
}


def quota_check(user: Any) -> None:
    """Raise AppError quota_exceeded (429, retry_after; details.limit "daily_tokens" or
    "requests_per_minute") when the user is over their daily tokens or requests per minute."""
    now = timezone.now()
    limits, counts = _limits_and_counts(user, now)
    if error := quota_exceeded(limits, counts, now):
        raise error


def quota_exceeded(limits: QuotaLimits, counts: _Counts, now: datetime) -> AppError | None:
    """The quota_exceeded error when the counts reach a limit, else None. The reservation's
    statement (chat.services.quotas) tests the same limits in SQL."""
    if limits.daily_tokens and counts.tokens_today >= limits.daily_tokens:
        _, next_midnight = day_bounds(now)
        return _exceeded("daily_tokens", limits.daily_tokens, next_midnight, now)
    if limits.requests_per_minute and counts.requests_last_minute >= limits.requests_per_minute:
        assert counts.oldest_request_at is not None
        frees_at = counts.oldest_request_at + REQUEST_WINDOW
        return _exceeded("requests_per_minute", limits.requests_per_minute, frees_at, now)
    return None


def usage_summary(user: Any) -> dict:
    """What the user has used and may still use, for the account page and the API."""
    now = timezone.now()
    limits, counts = _limits_and_counts(user, now)
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

"""The site's daily LLM budget: SITE_DAILY_TOKEN_BUDGET tokens and, optionally, SITE_DAILY_COST_LIMIT
(in the currency of LLM_PRICES, per-model prices per million prompt / completion tokens).

Everything the site's LLM calls spent since local midnight (TIME_ZONE) counts, whoever caused it
(UsageRecord rows, including the CLI's and those of deleted users). Once either limit is reached
the generation gate refuses every signed-in user's LLM call with AppError site_budget_exhausted
(503, Retry-After until midnight); cached summaries, transcripts and offline mode call no LLM and
still work. Like the per-user quota, a call admitted just before the limit may overshoot it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat.errors import SITE_BUDGET_EXHAUSTED
from chat.models import UsageRecord
from chat.quotas import day_bounds
from core.errors import AppError

PER_TOKENS = 1_000_000  # LLM_PRICES are per million tokens


@dataclass(frozen=True)
class SiteSpend:
    tokens: int
    cost: float  # 0 when no LLM_PRICES are set
    token_budget: int  # 0: no limit
    cost_limit: float  # 0: no limit
    resets_at: datetime

    @property
    def exhausted_by(self) -> str | None:
        """ "tokens" or "cost" when that limit is reached, else None."""
        if self.token_budget and self.tokens >= self.token_budget:
            return "tokens"
        if self.cost_limit and self.cost >= self.cost_limit:
            return "cost"
        return None


def site_spend_today(now: datetime | None = None) -> SiteSpend:
    """What the whole site's LLM calls spent today, and its limits."""
    now = now or timezone.now()
    day_start, next_midnight = day_bounds(now)
    rows = (
        UsageRecord.objects.filter(created_at__gte=day_start)
        .order_by()
        .values("model")
        .annotate(prompt=Coalesce(Sum("prompt_tokens"), 0), completion=Coalesce(Sum("completion_tokens"), 0))
    )
    tokens = 0
    cost = 0.0
    prices = settings.LLM_PRICES
    for row in rows:
        tokens += row["prompt"] + row["completion"]
        prompt_price, completion_price = prices.get(row["model"], prices.get("*", (0.0, 0.0)))
        cost += (row["prompt"] * prompt_price + row["completion"] * completion_price) / PER_TOKENS
    return SiteSpend(
        tokens=tokens,
        cost=round(cost, 6),
        token_budget=settings.SITE_DAILY_TOKEN_BUDGET,
        cost_limit=settings.SITE_DAILY_COST_LIMIT,
        resets_at=next_midnight,
    )


def site_budget_check() -> None:
    """Raise AppError site_budget_exhausted (503, retry_after until midnight) once today's spend
    reached SITE_DAILY_TOKEN_BUDGET or SITE_DAILY_COST_LIMIT; nothing to do when neither is set."""
    if not settings.SITE_DAILY_TOKEN_BUDGET and not settings.SITE_DAILY_COST_LIMIT:
        return
    now = timezone.now()
    spend = site_spend_today(now)
    limit = spend.exhausted_by
    if limit is not None:
        wait = max(1, math.ceil((spend.resets_at - now).total_seconds()))
        raise AppError(SITE_BUDGET_EXHAUSTED, retry_after=wait, details={"limit": limit})

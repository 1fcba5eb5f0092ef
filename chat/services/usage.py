"""Writes of LLM usage: one UsageRecord per LLM call, finished or not (quotas count these rows)."""

from __future__ import annotations

from dataclasses import dataclass

from chat.models import UsageRecord


@dataclass
class LLMUsage:
    """What one LLM call cost and how it went."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool  # counted with tiktoken: the provider reported no usage
    first_token_ms: int | None
    total_ms: int
    attempts: int = 1

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_record_create(
    *, user_id: int | None, purpose: str, model: str, usage: LLMUsage, status: str, error_text: str = ""
) -> UsageRecord:
    """Record one LLM call. `error_text` is the upstream's own words, for operators (not rendered)."""
    return UsageRecord.objects.create(
        user_id=user_id,
        purpose=purpose,
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        tokens_estimated=usage.estimated,
        time_to_first_token_ms=usage.first_token_ms,
        total_ms=usage.total_ms,
        attempts=usage.attempts,
        status=status,
        error_message=error_text[:2000],
    )

"""Writes of series summaries (chat.series): a generation begins on its cache key and finishes once."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from chat.models import SeriesSummary
from core.errors import AppError


@transaction.atomic
def series_summary_begin(
    *, collection_id: int, language: str, prompt_version: str, model: str, inputs_key: str, videos: list, user: Any
) -> SeriesSummary:
    """The row for the key, (re)set to generating."""
    row, _ = SeriesSummary.objects.select_for_update().get_or_create(
        collection_id=collection_id,
        language=language,
        prompt_version=prompt_version,
        model=model,
        inputs_key=inputs_key,
    )
    row.status = SeriesSummary.Status.GENERATING
    row.content, row.links, row.videos = "", [], videos
    row.error_code, row.error_params = "", {}
    row.requested_by = user if getattr(user, "is_authenticated", False) else None
    row.completed_at = None
    row.save()
    return row


def series_summary_finish(
    *,
    series_id: int,
    content: str,
    links: list[dict] | None = None,
    offline: bool = False,
    llm_calls: int = 0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    error: AppError | None = None,
) -> None:
    """Save how it ended: complete, or failed with why (code + params)."""
    SeriesSummary.objects.filter(pk=series_id).update(
        status=SeriesSummary.Status.FAILED if error else SeriesSummary.Status.COMPLETE,
        content=content,
        links=links or [],
        offline=offline,
        llm_calls=llm_calls,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        error_code=error.code if error else "",
        error_params=error.params if error else {},
        completed_at=None if error else timezone.now(),
        updated_at=timezone.now(),
    )

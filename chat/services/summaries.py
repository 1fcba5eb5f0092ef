"""Writes of summaries: which request leads a generation (claim, takeover) and how a run saves its
text, its heartbeat and its end. A run's writes are guarded by its `generation_id`: once another
request has taken the row over, they change nothing and return False (or None)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat.errors import REGENERATION_FAILED
from chat.models import Summary
from chat.services.usage import LLMUsage
from chat.summary_keys import SummaryKey
from core.errors import AppError
from videos.models import VideoPart

# What a regeneration keeps of the last complete version, to put back if it fails.
PRESERVED_FIELDS = (
    "content",
    "mode",
    "key_points",
    "highlights",
    "chapters",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
)


@dataclass
class SummaryOutcome:
    """What a run has made so far: its text, how, and what its LLM calls cost."""

    content: str
    mode: str
    usage: list[LLMUsage] = field(default_factory=list)
    key_points: list[dict] = field(default_factory=list)
    highlights: list[dict] = field(default_factory=list)
    chapters: list[dict] = field(default_factory=list)  # chat.chapters: tiling the part

    def cost_fields(self) -> dict:
        return {
            "mode": self.mode,
            "llm_calls": len(self.usage),
            "prompt_tokens": sum(usage.prompt_tokens for usage in self.usage),
            "completion_tokens": sum(usage.completion_tokens for usage in self.usage),
        }


def summary_is_stale(summary: Summary) -> bool:
    """Whether a generating row's heartbeat stopped SUMMARY_STALE_SECONDS ago (its server died)."""
    stale_after = timedelta(seconds=float(settings.SUMMARY_STALE_SECONDS))
    return summary.heartbeat_at is None or timezone.now() - summary.heartbeat_at > stale_after


def _older_than_transcript(summary: Summary) -> bool:
    """Whether the part was ingested again (new chunks) after this summary was made."""
    ingested_at = VideoPart.objects.filter(pk=summary.part_id).values_list("ingested_at", flat=True).first()
    return bool(ingested_at and summary.completed_at and summary.completed_at < ingested_at)


def _restart(summary: Summary, user_id: int | None) -> None:
    """Make `summary` a fresh generation led by the caller (inside the row lock).

    A complete version being regenerated is kept in `previous` until the new one is done.
    """
    now = timezone.now()
    if summary.status == Summary.Status.COMPLETE and summary.content:
        summary.previous = {name: getattr(summary, name) for name in PRESERVED_FIELDS}
        summary.previous["completed_at"] = summary.completed_at.isoformat() if summary.completed_at else None
    summary.status = Summary.Status.GENERATING
    summary.generation_id = uuid.uuid4().hex
    summary.heartbeat_at = summary.started_at = now
    summary.content, summary.error_code, summary.error_params, summary.mode = "", "", {}, ""
    summary.key_points, summary.highlights, summary.chapters = [], [], []
    summary.llm_calls = summary.prompt_tokens = summary.completion_tokens = 0
    summary.completed_at = None
    summary.requested_by_id = user_id
    summary.save()


def summary_claim(*, key: SummaryKey, user_id: int | None, regenerate: bool = False) -> tuple[str, Summary]:
    """Decide this request's role under the row lock: "cached", "follow" or "lead".

    A finished summary older than the part's last ingestion is made again (the chunks changed).
    Two requests for a missing row both try to insert it; the unique constraint lets one win and
    the other waits for it, then finds it generating and follows.
    """
    with transaction.atomic():
        summary, created = Summary.objects.select_for_update().get_or_create(
            part_id=key.part_id,
            language=key.language,
            prompt_version=key.prompt_version,
            model=key.model,
            style=key.style,
            defaults={"offline": key.offline, "status": Summary.Status.GENERATING},
        )
        if not created and summary.status == Summary.Status.COMPLETE and not regenerate:
            if not _older_than_transcript(summary):
                return "cached", summary
        if not created and summary.status == Summary.Status.GENERATING and not summary_is_stale(summary):
            return "follow", summary
        _restart(summary, user_id)
        return "lead", summary


def summary_takeover(*, summary_id: int, generation_id: str, user_id: int | None) -> Summary | None:
    """Take over a generation whose heartbeat stopped; None when it is alive, finished or taken."""
    with transaction.atomic():
        summary = Summary.objects.select_for_update().get(pk=summary_id)
        if summary.generation_id != generation_id or summary.status != Summary.Status.GENERATING:
            return None
        if not summary_is_stale(summary):
            return None
        _restart(summary, user_id)
        return summary


def _run_rows(summary_id: int, generation_id: str) -> QuerySet[Summary]:
    return Summary.objects.filter(pk=summary_id, generation_id=generation_id)


def summary_save_text(*, summary_id: int, generation_id: str, content: str) -> bool:
    """Save the text so far and beat the heart; False when another run owns the row."""
    return bool(_run_rows(summary_id, generation_id).update(content=content, heartbeat_at=timezone.now()))


def summary_save_sections(*, summary_id: int, generation_id: str, sections: list[dict]) -> bool:
    """Keep a long part's finished sections so far (in `chapters` while generating), so a request
    arriving mid-generation gets them; False when another run owns the row."""
    return bool(_run_rows(summary_id, generation_id).update(chapters=sections, heartbeat_at=timezone.now()))


def summary_complete(*, summary_id: int, generation_id: str, outcome: SummaryOutcome) -> bool:
    """Save the finished summary (and drop the kept previous version); False when superseded."""
    now = timezone.now()
    return bool(
        _run_rows(summary_id, generation_id).update(
            status=Summary.Status.COMPLETE,
            content=outcome.content,
            key_points=outcome.key_points,
            highlights=outcome.highlights,
            chapters=outcome.chapters,
            error_code="",
            error_params={},
            previous={},
            heartbeat_at=now,
            completed_at=now,
            **outcome.cost_fields(),
        )
    )


@transaction.atomic
def summary_fail(
    *, summary_id: int, generation_id: str, outcome: SummaryOutcome, error: AppError, interrupted: bool
) -> str | None:
    """End a run that failed; the row's status after it, or None when another run owns the row.

    A failed regeneration puts the last complete version back ("complete", code regeneration_failed);
    otherwise the partial text is kept as "interrupted" (some text) or "failed".
    """
    summary = _run_rows(summary_id, generation_id).select_for_update().first()
    if summary is None:
        return None
    now = timezone.now()
    if summary.previous:
        previous = summary.previous
        completed_at = previous.get("completed_at")
        for name in PRESERVED_FIELDS:
            if name in previous:
                setattr(summary, name, previous[name])
        summary.status, summary.previous = Summary.Status.COMPLETE, {}
        summary.completed_at = datetime.fromisoformat(completed_at) if completed_at else now
        summary.error_code, summary.error_params = REGENERATION_FAILED.code, {"cause": error.code}
    else:
        for name, value in outcome.cost_fields().items():
            setattr(summary, name, value)
        summary.status = Summary.Status.INTERRUPTED if interrupted else Summary.Status.FAILED
        summary.content, summary.completed_at = outcome.content, now
        summary.error_code, summary.error_params = error.code, error.params
    summary.heartbeat_at = now
    summary.save()
    return summary.status

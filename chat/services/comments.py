"""Writes of comment drafts: a finished set of drafts is saved once, with what it cost."""

from __future__ import annotations

from chat.models import CommentDraftSet, Summary


def comment_draft_set_create(
    *,
    user_id: int | None,
    part_id: int,
    summary: Summary,
    tone: str,
    drafts: list[str],
    model: str,
    offline: bool,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> CommentDraftSet:
    return CommentDraftSet.objects.create(
        user_id=user_id,
        part_id=part_id,
        summary=summary,
        tone=tone,
        drafts=drafts,
        model=model,
        offline=offline,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )

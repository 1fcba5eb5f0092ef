"""Reads for the tools: a part of the caller's library (anyone else's looks missing)."""

from __future__ import annotations

from typing import Any

from chat.library import library_part_ids
from core.errors import AppError
from videos.errors import PART_NOT_FOUND
from videos.models import VideoPart
from videos.selectors import part_get_or_404


def library_part_get(*, user: Any, bvid: str, page: int, with_transcript: bool = False) -> VideoPart:
    """The part if it is in the user's library (chat.library), else AppError part_not_found (404):
    a part someone else submitted is not shown, exactly like a missing one."""
    part = part_get_or_404(bvid=bvid, page=page, with_transcript=with_transcript)
    if part.pk not in library_part_ids(user=user):
        raise AppError(PART_NOT_FOUND, details={"bvid": bvid, "page": page})
    return part

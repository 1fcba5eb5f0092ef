"""Writes on everything generated from a video at once (the admin's purge)."""

from __future__ import annotations

from django.db import transaction

from chat.models import CommentDraftSet, Summary
from videos.admin import video_cache_purge


@transaction.atomic
def video_generated_purge(*, video_ids: list[int]) -> int:
    """Purge the videos' chunks and transcripts, and their summaries and comment drafts.

    Conversations are the users' and stay. Returns how many parts were purged.
    """
    Summary.objects.filter(part__video_id__in=video_ids).delete()
    CommentDraftSet.objects.filter(part__video_id__in=video_ids).delete()
    return video_cache_purge(video_ids=video_ids)

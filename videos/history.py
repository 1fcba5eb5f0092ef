"""A user's videos: the ones they submitted or opened, newest first (`VideoRequest`)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from videos.models import VideoPart, VideoRequest


def video_request_record(*, user: Any, part: VideoPart) -> VideoRequest:
    """Put the part's video at the top of the user's history, remembering the part."""
    request, _ = VideoRequest.objects.update_or_create(
        user=user, video_id=part.video_id, defaults={"page": part.page, "opened_at": timezone.now()}
    )
    return request


def video_requests_for_user(user: Any, *, limit: int | None = None) -> QuerySet[VideoRequest]:
    """The user's videos, most recently opened first, with the video loaded."""
    requests = VideoRequest.objects.filter(user=user).select_related("video").order_by("-opened_at", "-id")
    return requests[:limit] if limit else requests

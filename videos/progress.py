"""Ingestion progress on the channel layer: one group per video, so every page watching it hears."""

from __future__ import annotations

import logging

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def video_group_name(bvid: str) -> str:
    return f"video.{bvid}"


async def progress_publish(progress: dict) -> None:
    """Send {"type": "ingest.progress", "bvid", "page", "stage", "percent", "error", "error_code"} to the group.

    The in-memory layer only reaches consumers in this process; with REDIS_URL every process hears it.
    A failure to publish never fails the ingestion.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(video_group_name(progress["bvid"]), {"type": "ingest.progress", **progress})
    except Exception:
        logger.warning("could not publish ingestion progress for %s", progress.get("bvid"), exc_info=True)

"""What runsite's supervisor cleans up every REQUEUE_EVERY_SECONDS, besides requeuing ingestion.

A server process that died (SIGKILL, out of memory) cannot save the answer or summary it was
streaming. Its row would stay "streaming"/"generating" until someone asked again; the sweep marks
it interrupted (code server_restarted) once it is stale, keeping the text the stream had saved, so
nothing half-written is ever shown as if complete. A regeneration's row (which holds the previous
complete version) is left to the summary takeover, which puts that version back.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from chat.errors import SERVER_RESTARTED
from chat.models import Message, Summary
from chat.services.conversations import STALE_STREAMING_AFTER

logger = logging.getLogger("chatbili_site.supervisor")


def stale_streams_interrupt() -> tuple[int, int]:
    """Mark the answers and summaries whose process died mid-stream interrupted; (answers, summaries)."""
    now = timezone.now()
    answers = Message.objects.filter(
        status=Message.Status.STREAMING, updated_at__lt=now - STALE_STREAMING_AFTER
    ).update(status=Message.Status.INTERRUPTED, error_code=SERVER_RESTARTED.code, error_params={}, updated_at=now)
    stale_before = now - timedelta(seconds=float(settings.SUMMARY_STALE_SECONDS))
    summaries = Summary.objects.filter(
        status=Summary.Status.GENERATING, heartbeat_at__lt=stale_before, previous={}
    ).update(status=Summary.Status.INTERRUPTED, error_code=SERVER_RESTARTED.code, error_params={}, completed_at=now)
    if answers or summaries:
        logger.warning("marked %d answer(s) and %d summary(ies) of dead processes interrupted", answers, summaries)
    return answers, summaries

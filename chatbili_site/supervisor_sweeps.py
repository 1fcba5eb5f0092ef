"""What runsite's supervisor cleans up every REQUEUE_EVERY_SECONDS, besides requeuing ingestion.

A server process that died (SIGKILL, out of memory) cannot save the answer or summary it was
streaming. Its row would stay "streaming"/"generating" until someone asked again; the sweep marks
it interrupted (code server_restarted) once it is stale, keeping the text the stream had saved, so
nothing half-written is ever shown as if complete. A regeneration's row (which holds the previous
complete version) is left to the summary takeover, which puts that version back.

A worker that died the same way leaves its django-tasks row RUNNING for ever, though its part or
collection was queued again as a new task (videos.submission: at once when runsite saw it die,
after the stale window otherwise). The sweep marks such a row FAILED, with a traceback saying so,
once nothing holds its part or collection any more: no claim, or a claim whose heartbeat is older
than the stale window (videos.services.STALE_CLAIM_AFTER), and the row started before that window.
A row whose part another live worker now runs stays RUNNING until that run ends.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chat.errors import SERVER_RESTARTED
from chat.models import Message, Summary
from chat.services.conversations import STALE_STREAMING_AFTER
from videos.models import Collection, VideoPart
from videos.services import STALE_CLAIM_AFTER
from videos.tasks import ingest_collection_task, ingest_part_task

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


ORPHANED_TASK_TRACEBACK = (
    "The worker running this task stopped (killed, or out of memory) before it ended; "
    "its part or collection was queued again as a new task.\n"
)


def orphaned_task_rows_fail() -> int:
    """Mark FAILED the RUNNING ingest task rows whose worker died (see the module docstring); how many."""
    now = timezone.now()
    stale_before = now - STALE_CLAIM_AFTER
    held = Q(heartbeat_at__gte=stale_before) & ~Q(claimed_by="")
    held_by_a_live_worker = {
        ingest_part_task.module_path: set(VideoPart.objects.filter(held).values_list("pk", flat=True)),
        ingest_collection_task.module_path: set(Collection.objects.filter(held).values_list("pk", flat=True)),
    }
    rows = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, task_path__in=list(held_by_a_live_worker), started_at__lt=stale_before
    )
    orphaned = [
        row.pk
        for row in rows.only("pk", "task_path", "args_kwargs")
        if _task_target(row) not in held_by_a_live_worker[row.task_path]
    ]
    failed = DBTaskResult.objects.filter(pk__in=orphaned, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path="builtins.ProcessLookupError",
        traceback=ORPHANED_TASK_TRACEBACK,
    )
    if failed:
        logger.warning("marked %d task(s) of dead workers failed", failed)
    return failed


def _task_target(row: DBTaskResult) -> int | None:
    """The part or collection id an ingest task row was enqueued with (its one argument)."""
    arguments = [*row.args_kwargs.get("args", []), *row.args_kwargs.get("kwargs", {}).values()]
    return arguments[0] if len(arguments) == 1 and isinstance(arguments[0], int) else None

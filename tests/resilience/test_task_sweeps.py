"""runsite's sweep: the django-tasks row of an ingest whose worker died (left RUNNING) is marked
FAILED once nothing holds its part; a row whose part a live worker holds, or that just started, is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chatbili_site.supervisor_sweeps import ORPHANED_TASK_TRACEBACK, orphaned_task_rows_fail
from tests.factories import ready_part
from videos.models import VideoPart
from videos.services import STALE_CLAIM_AFTER
from videos.tasks import ingest_part_task

pytestmark = pytest.mark.django_db

LONG_AGO = STALE_CLAIM_AFTER + timedelta(seconds=5)


def running_ingest(*, bvid: str, started: timedelta, claimed_by: str, heartbeat: timedelta | None) -> DBTaskResult:
    """An ingest task row a worker took `started` ago, its part claimed as given."""
    part = async_to_sync(ready_part)(bvid=bvid)
    now = timezone.now()
    VideoPart.objects.filter(pk=part.pk).update(
        stage=VideoPart.Stage.TRANSCRIPT,
        claimed_by=claimed_by,
        heartbeat_at=None if heartbeat is None else now - heartbeat,
    )
    result = ingest_part_task.enqueue(part.pk)
    DBTaskResult.objects.filter(pk=result.id).update(
        status=TaskResultStatus.RUNNING, started_at=now - started, worker_ids=["worker-a"]
    )
    return DBTaskResult.objects.get(pk=result.id)


def test_the_row_of_a_dead_workers_ingest_is_marked_failed() -> None:
    dead = running_ingest(bvid="BV1xx411c7m1", started=LONG_AGO, claimed_by="host:999999", heartbeat=LONG_AGO)
    assert orphaned_task_rows_fail() == 1
    dead.refresh_from_db()
    assert (dead.status, dead.traceback, dead.finished_at is not None) == (
        TaskResultStatus.FAILED,
        ORPHANED_TASK_TRACEBACK,
        True,
    )


def test_the_row_of_an_ingest_whose_part_was_released_is_marked_failed() -> None:
    dead = running_ingest(bvid="BV1xx411c7m2", started=LONG_AGO, claimed_by="", heartbeat=None)
    assert orphaned_task_rows_fail() == 1
    dead.refresh_from_db()
    assert dead.status == TaskResultStatus.FAILED


def test_a_row_whose_part_a_live_worker_holds_stays_running() -> None:
    live = running_ingest(bvid="BV1xx411c7m3", started=LONG_AGO, claimed_by="host:1", heartbeat=timedelta(seconds=2))
    assert orphaned_task_rows_fail() == 0
    live.refresh_from_db()
    assert live.status == TaskResultStatus.RUNNING


def test_a_row_that_just_started_stays_running_before_its_worker_claims_the_part() -> None:
    young = running_ingest(bvid="BV1xx411c7m4", started=timedelta(seconds=1), claimed_by="", heartbeat=None)
    assert orphaned_task_rows_fail() == 0
    young.refresh_from_db()
    assert young.status == TaskResultStatus.RUNNING

"""Killing the real `db_worker` mid-collection: a new worker finishes the rest, nothing finished is redone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from chatbili_site.settings import BASE_DIR
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import FIVE_PART, FIVE_PART_LINK
from tests.fakes.server import database_url_of_test_db
from videos.collections import collection_submit
from videos.models import CollectionItem
from videos.submission import collection_ingest_enqueue, requeue_stale_collections

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STALE_SECONDS = 2


def start_worker() -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": database_url_of_test_db(),
        "BILIBILI_API_BASE": settings.BILIBILI_API_BASE,
        "BILIBILI_COMMENT_BASE": settings.BILIBILI_COMMENT_BASE,
        "BILIBILI_SESSDATA": "test-sessdata",
        "BILIBILI_RETRY_BASE_DELAY_SECONDS": "0.01",
        "COLLECTION_INGEST_CONCURRENCY": "1",
        "COLLECTION_STALE_SECONDS": str(STALE_SECONDS),
    }
    command = [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"]
    return subprocess.Popen(command, cwd=BASE_DIR, env=env)


def states(collection_id: int) -> list[str]:
    items = CollectionItem.objects.filter(collection_id=collection_id).order_by("position")
    return list(items.values_list("state", flat=True))


def wait_for(condition, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_killed_worker_leaves_the_rest_to_the_next_one(bilibili: FakeBilibili, settings) -> None:
    settings.COLLECTION_STALE_SECONDS = STALE_SECONDS
    user = User.objects.create_user("alice")
    collection = async_to_sync(collection_submit)(owner=user, text=FIVE_PART_LINK)
    assert collection_ingest_enqueue(collection_id=collection.pk)

    first = start_worker()
    try:
        assert wait_for(lambda: "ready" in states(collection.pk))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)
    at_kill = states(collection.pk)
    assert at_kill.count("ready") < 5, at_kill  # killed mid-collection
    ready_pages = [n for n, state in enumerate(at_kill, start=1) if state == "ready"]
    player_calls_at_kill = len(bilibili.calls("/x/player/wbi/v2"))

    time.sleep(STALE_SECONDS + 0.5)  # the dead worker's heartbeat goes stale
    second = start_worker()
    try:
        assert requeue_stale_collections() == [collection.pk]
        finished = wait_for(lambda: states(collection.pk) == ["ready"] * 5)
    finally:
        second.terminate()
        second.wait(timeout=20)
        connection.close_pool()
    assert finished, states(collection.pk)
    cids_after = [call.query["cid"] for call in bilibili.calls("/x/player/wbi/v2")[player_calls_at_kill:]]
    redone = [page for page in ready_pages if str(FIVE_PART[1] * 10 + page) in cids_after]
    assert redone == []

"""Ten concurrent submissions and two real `db_worker` processes run one pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, connections

from chatbili_site.settings import BASE_DIR
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.server import database_url_of_test_db
from videos.models import VideoPart
from videos.submission import part_ingest_enqueue, video_submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_ten_requests_and_two_real_workers_run_one_pipeline(bilibili: FakeBilibili) -> None:
    """Ten concurrent submissions, two `db_worker` processes: one pipeline runs."""
    part = async_to_sync(video_submit)("BV117411r7R1")
    queued: list[bool] = []

    def request_ingest() -> None:
        try:
            queued.append(part_ingest_enqueue(part_id=part.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request_ingest) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(queued) == [False] * 9 + [True]

    database_url = database_url_of_test_db()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": database_url,
        "BILIBILI_API_BASE": settings.BILIBILI_API_BASE,
        "BILIBILI_COMMENT_BASE": settings.BILIBILI_COMMENT_BASE,
        "BILIBILI_SESSDATA": "test-sessdata",
        "BILIBILI_RETRY_BASE_DELAY_SECONDS": "0.01",
    }
    command = [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"]
    workers = [subprocess.Popen(command, cwd=BASE_DIR, env=env) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            part.refresh_from_db()
            if not part.is_in_progress:
                break
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=20)
        # Pooled connections the request threads returned would block dropping the test database.
        connection.close_pool()
    assert part.stage == VideoPart.Stage.READY, part.error_code
    assert len(bilibili.calls("/x/player/wbi/v2")) == 1

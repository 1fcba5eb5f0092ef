"""The site's own processes as a test starts them: the fakes' addresses for their environment, and a
`manage.py db_worker` on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from django.conf import settings as django_settings
from django.db import connection

from chatbili_site.settings import BASE_DIR
from tests.fakes.server import database_url_of_test_db

WORKER_COMMAND = [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"]


def fakes_env(settings: Any = django_settings) -> dict[str, str]:
    """What a site or worker process needs to reach the fakes the test started (`bilibili`, `llm`)."""
    return {
        "OPENAI_BASE_URL": settings.OPENAI_BASE_URL,
        "OPENAI_API_KEY": "test-key",
        "CHAT_MODEL": "fake-chat",
        "BILIBILI_API_BASE": settings.BILIBILI_API_BASE,
        "BILIBILI_COMMENT_BASE": settings.BILIBILI_COMMENT_BASE,
        "BILIBILI_SHORTLINK_BASE": settings.BILIBILI_SHORTLINK_BASE,
        "BILIBILI_SESSDATA": "test-sessdata",
        "BILIBILI_RETRY_BASE_DELAY_SECONDS": "0.01",
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """`manage.py db_worker` on the test database, with `env` over this process's environment."""
    environment = {
        **os.environ,
        **env,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": database_url_of_test_db(),
        "LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(WORKER_COMMAND, cwd=BASE_DIR, env=environment, stderr=subprocess.DEVNULL)


def stop_worker(process: subprocess.Popen) -> None:
    """Stop a worker started by `start_worker`, then close this process's connection pool."""
    process.terminate()
    process.wait(timeout=30)
    connection.close_pool()

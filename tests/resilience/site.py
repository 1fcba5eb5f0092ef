"""`runsite` as a test starts it: supervised servers and a worker on the test database (or a fresh
embedded PostgreSQL), with the fakes' addresses; a helper to read what its supervisor reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from chatbili_site.settings import BASE_DIR
from tests.fakes.server import database_url_of_test_db, free_port
from tests.site_processes import fakes_env as fakes_env  # the resilience tests import it from here

READY_SECONDS = 150
STOP_SECONDS = 90


def wait_for(condition: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    """Poll until `condition()` is truthy; its value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {getattr(condition, '__name__', condition)}")
        time.sleep(every)


def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response | None:
    """A GET on a new connection (None when it could not connect or timed out)."""
    try:
        return httpx.get(url, timeout=10, trust_env=False, headers={"Connection": "close", **(headers or {})})
    except httpx.HTTPError:
        return None


class SupervisedSite:
    def __init__(self, process: subprocess.Popen, url: str, state_file: Path, log: Path) -> None:
        self.process = process
        self.url = url
        self.state_file = state_file
        self.log = log

    def component(self, name: str) -> dict:
        state = json.loads(self.state_file.read_text())
        return next(component for component in state["components"] if component["name"] == name)

    def healthy(self) -> bool:
        assert self.process.poll() is None, f"runsite exited: {self.log.read_text()[-3000:]}"
        response = get(f"{self.url}/healthz")
        return response is not None and response.status_code == 200


@contextmanager
def supervised_site(tmp_path: Path, *args: str, embedded: bool = False, **env: str) -> Iterator[SupervisedSite]:
    """`manage.py runsite ARGS` until the test ends; Ctrl-C (SIGINT to runsite only) then."""
    from django.db import connection

    port = free_port()
    state_file = tmp_path / "supervisor.json"
    log = tmp_path / "runsite.log"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "CHANNEL_LAYER": "postgres",
        "SUPERVISOR_STATE_FILE": str(state_file),
        "WARM_START": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    if embedded:
        environment.pop("DATABASE_URL", None)
        environment["EMBEDDED_DB_DIR"] = str(tmp_path / "pgdata")
        command_args = ["--port", str(port), *args]
    else:
        environment["DATABASE_URL"] = database_url_of_test_db()
        command_args = ["--no-migrate", "--port", str(port), *args]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runsite", *command_args],
            cwd=BASE_DIR,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    site = SupervisedSite(process, f"http://127.0.0.1:{port}", state_file, log)
    try:
        wait_for(site.healthy, timeout=READY_SECONDS, every=0.3)
        yield site
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        connection.close_pool()

"""`make run`'s command end to end: a real daphne + worker on a fresh embedded PostgreSQL.

Ctrl-C must leave no postgres process behind, and a start after a SIGKILL must work.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from chatbili_site.settings import BASE_DIR
from tests.fakes.server import free_port


def postgres_processes(datadir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(datadir) in " ".join(cmdline):
            found.append(process)
    return found


class Site:
    def __init__(self, datadir: Path, port: int) -> None:
        self.datadir = datadir
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
            "EMBEDDED_DB_DIR": str(datadir),
            "DEBUG": "true",
            "SECRET_KEY": "",
        }
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runsite", "--port", str(port)],
            cwd=BASE_DIR,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_until_healthy(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "runsite exited before it was healthy"
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2)
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("the site did not become healthy in time")

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)


@pytest.fixture
def datadir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pgdata"
    yield path
    for process in postgres_processes(path):
        process.kill()


def wait_for(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.slow  # a whole site on a fresh embedded PostgreSQL
def test_run_serves_the_site_and_ctrl_c_stops_postgres(datadir: Path) -> None:
    site = Site(datadir, free_port())
    health = site.wait_until_healthy()
    assert health["ok"] is True
    assert all(check["ok"] for check in health["checks"].values())

    assert httpx.get(f"{site.url}/").status_code == 200
    assert httpx.get(f"{site.url}/admin/login/").status_code == 200
    docs = httpx.get(f"{site.url}/api/v1/docs")
    assert docs.status_code == 200
    scripts = re.findall(r'src="([^"]+)"', docs.text)
    assert scripts
    for script in scripts:
        assert script.startswith("/static/")
        assert httpx.get(f"{site.url}{script}").status_code == 200
    assert postgres_processes(datadir)

    assert site.ctrl_c() == 0
    assert wait_for(lambda: not postgres_processes(datadir)), "postgres is still running after Ctrl-C"


@pytest.mark.slow  # a whole site on a fresh embedded PostgreSQL
def test_run_after_sigkill_starts_cleanly(datadir: Path) -> None:
    port = free_port()
    first = Site(datadir, port)
    first.wait_until_healthy()
    children = psutil.Process(first.process.pid).children()
    first.process.kill()
    first.process.wait()
    # daphne finishes its shutdown (closing the channel layer's listener) after the SIGTERM; a loaded CI
    # machine can take a while, so the deadline is generous
    gone = lambda: not any(child.is_running() and child.status() != "zombie" for child in children)  # noqa: E731
    assert wait_for(gone, timeout=60), "server and worker outlived a SIGKILL of runsite"
    # postgres may be left running or stopped by the last child to exit (its exit hook, after dead
    # handles are pruned): either way the next start must work

    second = Site(datadir, port)
    assert second.wait_until_healthy()["ok"] is True
    assert second.ctrl_c() == 0
    assert wait_for(lambda: not postgres_processes(datadir)), "postgres is still running after the second Ctrl-C"


def test_several_servers_on_the_in_memory_layer_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("CHANNEL_LAYER", "memory")
    with pytest.raises(CommandError, match=r"--servers 2 needs a cross-process channel layer"):
        call_command("runsite", servers=2)


def test_runsite_gives_its_processes_the_postgres_layer_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatbili_site.management.commands.runsite import children_channel_layer

    monkeypatch.delenv("CHANNEL_LAYER", raising=False)
    assert children_channel_layer() == "postgres"

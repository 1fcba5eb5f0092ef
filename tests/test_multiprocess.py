"""Several server processes from one command: `runsite --servers 2` on a fresh embedded PostgreSQL.

The two daphne processes share one socket and talk through the channels-postgres layer.
"""

from __future__ import annotations

import os
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

pytestmark = pytest.mark.slow


def server_pids(runsite: subprocess.Popen) -> set[int]:
    return {child.pid for child in psutil.Process(runsite.pid).children() if "daphne" in " ".join(child.cmdline())}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    env = {
        **os.environ,
        "EMBEDDED_DB_DIR": str(tmp_path / "pgdata"),
        "DEBUG": "true",
        "SECRET_KEY": "",
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CHANNEL_LAYER", None)
    runsite = subprocess.Popen(
        [sys.executable, "manage.py", "runsite", "--servers", "2", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield runsite, f"http://127.0.0.1:{port}"
    finally:
        os.killpg(runsite.pid, signal.SIGINT)
        runsite.wait(timeout=60)


def wait_running(runsite: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    for line in runsite.stdout:
        if "ChatBili is running" in line:
            return line
        assert time.monotonic() < deadline, "runsite did not report running in time"
    raise AssertionError(f"runsite exited with {runsite.wait()}")


def test_two_servers_share_the_socket_and_the_channel_layer(site: tuple[subprocess.Popen, str]) -> None:
    runsite, url = site
    line = wait_running(runsite)
    assert "2 server process(es), channel layer postgres" in line
    assert len(server_pids(runsite)) == 2
    with httpx.Client(trust_env=False) as client:
        health = [client.get(f"{url}/healthz", headers={"Connection": "close"}).json() for _ in range(8)]
    assert all(
        report["checks"]["channel_layer"] == {"ok": True, "backend": "EmbeddedPostgresChannelLayer"}
        for report in health
    )


def test_a_group_message_from_one_process_reaches_another(site: tuple[subprocess.Popen, str], tmp_path: Path) -> None:
    runsite, _url = site
    wait_running(runsite)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "EMBEDDED_DB_DIR": str(tmp_path / "pgdata"),
        "DEBUG": "true",
        "SECRET_KEY": "",
        "CHANNEL_LAYER": "postgres",
    }
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout.readline().strip() == "ready"
    subprocess.run([sys.executable, "-c", SENDER], cwd=BASE_DIR, env=env, check=True, timeout=60)
    assert receiver.stdout.readline().strip() == "ingest.progress 42"
    assert receiver.wait(timeout=30) == 0


_SETUP = (
    "import asyncio, django; django.setup(); from channels.layers import get_channel_layer\n"
    "layer = get_channel_layer()\n"
)
RECEIVER = (
    _SETUP
    + """
async def main():
    channel = await layer.new_channel("test.")
    await layer.group_add("video.BV1multi", channel)
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    message = await asyncio.wait_for(receiving, 30)
    print(message["type"], message["percent"], flush=True)
asyncio.run(main())
"""
)
SENDER = (
    _SETUP
    + """
from videos.progress import progress_publish
asyncio.run(progress_publish({"bvid": "BV1multi", "page": 1, "stage": "chunks", "percent": 42, "error": ""}))
"""
)

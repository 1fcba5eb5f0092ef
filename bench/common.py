"""Shared bench helpers: the machine description and a throwaway database on the configured server."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbili_site.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}, {platform.system()}"


@contextmanager
def bench_database(name: str = "bench_chatbili") -> Iterator[None]:
    """Create a fresh migrated database (like the test runner does), drop it afterwards."""
    from django.db import connection

    connection.settings_dict["TEST"]["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield
    finally:
        connection.close_pool()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a bench server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"nothing listens on port {port}")


def start_fake_openai(port: int, **knobs: object) -> subprocess.Popen:
    """The fake OpenAI-compatible server (tests/fakes/openai.py) in its own process."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in knobs.items())
    code = (
        "import uvicorn; from tests.fakes.openai import FakeOpenAI; "
        f"uvicorn.run(FakeOpenAI({arguments}).app, host='127.0.0.1', port={port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    wait_for_port(port, process)
    return process


def start_daphne(port: int, env: dict) -> subprocess.Popen:
    """A real daphne (listen backlog 1024, for bursts of connections) serving the site."""
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=1024"
    command = [sys.executable, "-m", "daphne", "-e", endpoint, "chatbili_site.asgi:application"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process


def database_url() -> str:
    """DATABASE_URL of the current (bench) database, for the processes a bench starts."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}"

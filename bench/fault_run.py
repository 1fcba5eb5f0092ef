"""A fault run against `manage.py runsite` (issue 18): kill its parts and time how it heals.

    .venv/bin/python bench/fault_run.py [--datadir /tmp/chatbili-fault] [--port 8765]

Starts `runsite --servers 2` on an embedded PostgreSQL in DATADIR (created on the first run), then:
1. kill -9 of the worker: is the site still answering, and when is a new worker running;
2. kill -9 of one server while 20 requests are made one after another: how many fail, when it is replaced;
3. kill -9 of PostgreSQL: what the site answers meanwhile, and when it serves data (/healthz 200) again;
4. Ctrl-C: how long the stop takes and whether any process is left.
Prints the machine and the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

BASE_DIR = Path(__file__).resolve().parent.parent


def get_status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=10, trust_env=False, headers={"Connection": "close"}).status_code
    except httpx.HTTPError:
        return None


def component(state_file: Path, name: str) -> dict:
    components = json.loads(state_file.read_text())["components"]
    return next(item for item in components if item["name"] == name)


def replaced_and_running(state_file: Path, name: str, old_pid: int) -> bool:
    now = component(state_file, name)
    return now["pid"] != old_pid and now["running"]


def postgres_of(datadir: Path) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if str(datadir) in " ".join(p.info["cmdline"] or [])]


def wait(condition, timeout: float = 120) -> float:
    """Seconds until `condition()` held (polling every 0.1 s), or -1 at the timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if condition():
                return time.monotonic() - start
        except (OSError, ValueError, StopIteration):
            pass
        time.sleep(0.1)
    return -1.0


def start_site(datadir: Path, port: int, state_file: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMBEDDED_DB_DIR": str(datadir),
        "DEBUG": "true",
        "SECRET_KEY": "",
        "SUPERVISOR_STATE_FILE": str(state_file),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    log = (datadir.parent / f"{datadir.name}-runsite.log").open("w")
    command = [sys.executable, "manage.py", "runsite", "--servers", "2", "--port", str(port)]
    return subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


def kill_worker(url: str, state_file: Path) -> None:
    worker = component(state_file, "worker-1")["pid"]
    os.kill(worker, signal.SIGKILL)
    killed = time.monotonic()
    up = get_status(f"{url}/") == 200
    print(f"worker killed: site answering right after: {up}; ", end="")
    replaced = wait(lambda: replaced_and_running(state_file, "worker-1", worker))
    print(f"new worker running after {replaced:.1f} s (total {time.monotonic() - killed:.1f} s)")


def kill_server(url: str, state_file: Path) -> None:
    server = component(state_file, "server-1")["pid"]
    os.kill(server, signal.SIGKILL)
    statuses = Counter(get_status(f"{url}/") for _ in range(20))
    replaced = wait(lambda: replaced_and_running(state_file, "server-1", server))
    print(f"server killed: 20 requests during its death: {dict(statuses)}; replaced after {replaced:.1f} s more")


def kill_postgres(url: str, state_file: Path) -> None:
    postmaster = component(state_file, "postgres")["pid"]
    os.kill(postmaster, signal.SIGKILL)
    seen: Counter = Counter()

    def serves() -> bool:
        status = get_status(f"{url}/healthz")
        seen[status] += 1
        return status == 200 and component(state_file, "postgres")["pid"] != postmaster

    back = wait(serves, timeout=120)
    print(f"postgres killed: /healthz answers meanwhile {dict(seen)}; serving data again after {back:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datadir", default="/tmp/chatbili-fault/pgdata")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    datadir = Path(args.datadir)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    state_file = datadir.parent / "supervisor.json"
    url = f"http://127.0.0.1:{args.port}"
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    site = start_site(datadir, args.port, state_file)
    try:
        print(f"site healthy after {wait(lambda: get_status(f'{url}/healthz') == 200, timeout=300):.1f} s")
        kill_worker(url, state_file)
        kill_server(url, state_file)
        kill_postgres(url, state_file)
    finally:
        before = {child.pid for child in psutil.Process(site.pid).children(recursive=True)}
        started = time.monotonic()
        site.send_signal(signal.SIGINT)
        site.wait(timeout=120)
        left = [pid for pid in before if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        stopped = time.monotonic() - started
        postgres_gone = wait(lambda: not postgres_of(datadir), timeout=30)
        print(f"Ctrl-C: runsite exited in {stopped:.1f} s; children left {left}; ", end="")
        print(f"postgres gone {postgres_gone:.1f} s later")


if __name__ == "__main__":
    main()

"""The supervisor restarts what stops, backs off, and calls a fast crash loop a crash loop."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatbili_site import supervisor
from chatbili_site.supervisor import ProcessComponent, Supervisor, read_state


def process(name: str, code: str) -> ProcessComponent:
    return ProcessComponent(name, "worker", lambda: subprocess.Popen([sys.executable, "-c", code]))


def tick_until(site: Supervisor, condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the supervisor did not get there in time"
        site.tick()
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "RESTART_DELAY_FIRST", 0.01)
    monkeypatch.setattr(supervisor, "RESTART_DELAY_MAX", 0.04)


def test_a_child_that_dies_is_started_again_and_the_others_are_left_alone(tmp_path: Path) -> None:
    dying, steady = process("worker-1", "import sys; sys.exit(3)"), process("server-1", "import time; time.sleep(60)")
    exits: list[tuple[str, int | None]] = []
    site = Supervisor(
        [dying, steady], state_file=tmp_path / "state.json", on_exit=lambda child, pid: exits.append((child.name, pid))
    )
    site.start_all()
    first_pid, steady_pid = dying.pid(), steady.pid()
    try:
        tick_until(site, lambda: dying.restarts == 1)
        assert exits[0] == ("worker-1", first_pid)
        assert dying.last_exit == "exited with code 3"
        assert (steady.pid(), steady.restarts, steady.running()) == (steady_pid, 0, True)
    finally:
        steady.signal(9)
        steady.process.wait()


def test_restarts_back_off_and_a_fast_crash_loop_is_flagged(tmp_path: Path) -> None:
    crashing = process("worker-1", "import sys; sys.exit(1)")
    site = Supervisor([crashing], state_file=tmp_path / "state.json")
    site.start_all()
    tick_until(site, lambda: crashing.crash_loop)
    assert crashing.restarts == supervisor.CRASH_LOOP_RESTARTS
    assert crashing.delay == supervisor.RESTART_DELAY_MAX
    state = read_state(str(tmp_path / "state.json"))
    assert state["components"][0]["crash_loop"] is True
    assert state["stale"] is False


def test_the_state_file_says_what_runs(tmp_path: Path) -> None:
    steady = process("server-1", "import time; time.sleep(60)")
    site = Supervisor([steady], state_file=tmp_path / "state.json")
    site.start_all()
    try:
        written = json.loads((tmp_path / "state.json").read_text())["components"]
        assert written == [
            {
                "name": "server-1",
                "kind": "worker",
                "pid": steady.pid(),
                "running": True,
                "restarts": 0,
                "last_restart": None,
                "last_exit": None,
                "crash_loop": False,
            }
        ]
    finally:
        steady.signal(9)
        steady.process.wait()

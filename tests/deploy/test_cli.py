"""The command line: an interrupted `summarize` says so and keeps what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from chat.management.commands.summarize import INTERRUPTED_MARKER
from tests.commands import ROOT, summarize_interrupted
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow  # a fresh Django process
def test_ctrl_c_keeps_the_printed_text_and_ends_with_the_interrupted_marker(llm, settings, tmp_path: Path) -> None:
    from asgiref.sync import async_to_sync

    async_to_sync(ready_part)()
    llm.reply = "这是一段很长的摘要。" * 40
    llm.token_delay = 0.1
    returncode, printed, stderr = summarize_interrupted(settings, tmp_path, printed_before="这是")
    assert (returncode, printed.splitlines()[-1]) == (130, INTERRUPTED_MARKER)
    first_line = printed.splitlines()[0]
    assert (first_line != "", llm.reply.startswith(first_line)) == (True, True)
    assert stderr.strip().splitlines()[-1] == "CommandError: interrupted", stderr


@pytest.mark.slow  # a fresh Django process
def test_ctrl_c_stops_a_summarize_started_with_sigint_ignored(llm, settings, tmp_path: Path) -> None:
    # a background job of a non-interactive shell (`summarize ... &` in a script) starts with SIGINT
    # ignored, and asyncio.run then never hears it: the command streamed on to the end
    from asgiref.sync import async_to_sync

    async_to_sync(ready_part)()
    llm.reply = "这是一段很长的摘要。" * 40
    llm.token_delay = 0.1
    returncode, printed, _ = summarize_interrupted(settings, tmp_path, printed_before="这是", sigint_ignored=True)
    text = printed.removesuffix(f"\n{INTERRUPTED_MARKER}\n")
    assert (returncode, text != "", llm.reply.startswith(text), len(text) < len(llm.reply)) == (130, True, True, True)


@pytest.mark.slow  # a fresh Django process
def test_a_command_says_the_embedded_database_keeps_running_for_another_process(settings) -> None:
    if settings.DATABASE_URL:
        pytest.skip("the tests run on an outside PostgreSQL")
    with connection.cursor() as cursor:  # this test process holds the embedded server
        cursor.execute("SELECT 1")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbili_site.settings"}
    code = "from django.db import connection; connection.ensure_connection()"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert (done.returncode, last.startswith("embedded PostgreSQL ("), f" {os.getpid()} (" in last) == (0, True, True)


def test_an_llm_failure_names_the_llm_host_and_what_to_check(settings) -> None:
    from core.cli import connection_hint

    settings.OPENAI_BASE_URL = "https://llm.example.org/v1"
    settings.OUTBOUND_PROXY = ""
    assert connection_hint("llm_failed") == (
        "\n  the LLM at https://llm.example.org/v1: check OPENAI_BASE_URL, OPENAI_API_KEY, "
        "OUTBOUND_PROXY (unset) and this machine's network"
    )


def test_a_bcut_failure_names_the_bcut_host(settings) -> None:
    from core.cli import connection_hint

    settings.ASR_BACKEND = "bcut"
    settings.BCUT_API_BASE = "https://bcut.example.org"
    assert connection_hint("asr_unreachable").startswith(
        "\n  the speech recognition service at https://bcut.example.org:"
    )


def test_an_unreachable_database_is_named_with_what_to_check(settings) -> None:
    from django.db import OperationalError

    from chatbili_site.db.exit_report import database_unreachable

    settings.DATABASE_URL = "postgresql://chatbili@db.internal:5433/chatbili"
    message = database_unreachable(OperationalError("connection refused\nmore"))
    assert message == (
        "cannot connect to the database at db.internal:5433/chatbili (DATABASE_URL): connection refused\n"
        "  check that the server runs and accepts this user, and DATABASE_URL"
    )

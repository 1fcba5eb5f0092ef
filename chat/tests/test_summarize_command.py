"""`manage.py summarize` prints the streamed summary, and refuses parts that are not ready."""

from __future__ import annotations

import asyncio
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    try:
        call_command("summarize", *args, stdout=out)
    finally:
        connections.close_all()
    return out.getvalue()


async def test_offline_summary_is_printed() -> None:
    await ready_part()
    out = await asyncio.to_thread(run, "BV1xx411c7mD")
    assert "红烧肉" in out or "五花肉" in out
    assert "offline" in out
    assert "[00:" in out


def test_a_part_not_ingested_is_refused() -> None:
    with pytest.raises(CommandError, match="not ingested"):
        run("BV1xx411c7mD")


def test_a_bad_link_is_refused() -> None:
    with pytest.raises(CommandError):
        run("not a link")

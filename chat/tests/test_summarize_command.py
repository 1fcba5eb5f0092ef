"""`manage.py summarize` prints the streamed summary, and refuses parts that are not ready."""

from __future__ import annotations

import asyncio

import pytest
from django.core.management import CommandError

from chat.models import Summary
from tests.commands import run_command
from tests.factories import ready_part
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    return run_command("summarize", *args)


async def test_offline_summary_is_printed() -> None:
    await ready_part()
    out = await asyncio.to_thread(run, "BV1xx411c7mD")
    summary = await Summary.objects.aget(part__video__bvid="BV1xx411c7mD", language="zh")
    assert summary.offline is True
    assert out == f"{summary.content}\n（离线摘要 offline summary）\n"
    assert "- 📌 [00:20] 今天我们做一道经典的红烧肉。" in out  # the second line starts at 20 s


def test_an_unknown_part_is_part_not_found() -> None:
    with pytest.raises(CommandError, match=r"^part_not_found: .* \(run `manage.py ingest` first\)$"):
        run("BV1xx411c7mD")


async def test_a_part_still_ingesting_is_part_not_ready() -> None:
    part = await ready_part()
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage=VideoPart.Stage.EMBEDDINGS)
    with pytest.raises(CommandError, match=r"^part_not_ready: "):
        await asyncio.to_thread(run, "BV1xx411c7mD")


def test_a_bad_link_is_invalid_link() -> None:
    with pytest.raises(CommandError, match=r"^invalid_link: "):
        run("not a link")

"""Progress bars and log lines never run into each other (core.cli.ProgressLine)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.core.management.base import OutputWrapper

from core.cli import ERASE_LINE, ProgressLine

logger = logging.getLogger("videos.ingest")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def screen(request) -> Iterator[io.StringIO]:
    """One place where both the command's output and the root logger's lines land, as on a console."""
    screen = Terminal() if request.param == "terminal" else io.StringIO()
    handler = logging.StreamHandler(screen)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    consoles = [each for each in root.handlers if type(each) is logging.StreamHandler]  # settings.LOGGING's
    for console in consoles:
        root.removeHandler(console)
    root.addHandler(handler)
    yield screen
    root.removeHandler(handler)
    for console in consoles:
        root.addHandler(console)


@pytest.mark.parametrize("screen", ["file"], indirect=True)
def test_in_a_file_a_log_line_gets_a_line_of_its_own(screen: io.StringIO) -> None:
    line = ProgressLine(OutputWrapper(screen))
    with line.logs_apart():
        line.show("BV1 p1 [#---] 25% metadata")
        logger.warning("no danmaku for BV1 p1")
        line.show("BV1 p1 [####] 100% ready")
        line.end()
    assert screen.getvalue().split("\n") == [
        "\rBV1 p1 [#---] 25% metadata",
        "WARNING no danmaku for BV1 p1",
        "\rBV1 p1 [#---] 25% metadata\rBV1 p1 [####] 100% ready",
        "",
    ]


@pytest.mark.parametrize("screen", ["terminal"], indirect=True)
def test_on_a_terminal_the_bar_is_erased_for_the_log_line_and_drawn_again(screen: io.StringIO) -> None:
    line = ProgressLine(OutputWrapper(screen))
    with line.logs_apart():
        line.show("BV1 p1 [#---] 25% metadata")
        logger.warning("no danmaku for BV1 p1")
    bar = ERASE_LINE + "BV1 p1 [#---] 25% metadata"
    assert screen.getvalue() == bar + ERASE_LINE + "WARNING no danmaku for BV1 p1\n" + bar


@pytest.mark.parametrize("screen", ["file"], indirect=True)
def test_the_log_streams_are_given_back_after(screen: io.StringIO) -> None:
    handler = next(handler for handler in logging.getLogger().handlers if getattr(handler, "stream", None) is screen)
    with ProgressLine(OutputWrapper(io.StringIO())).logs_apart():
        pass
    assert handler.stream is screen

"""A command's progress line that log lines never run into.

    line = ProgressLine(self.stdout)
    with line.logs_apart():
        line.show("BV1xx p1 [#####-----] 50% embeddings")   # redrawn in place with \\r
        logger.warning("no danmaku")                          # goes on a line of its own
        line.end()                                            # the bar's last state stays, then a newline

While `logs_apart` is active, every stream handler of the root logger writes through a wrapper that
first takes the progress line away (on a terminal: erased, and drawn again after the log line; in a
file or pipe: ended with a newline) so a log line never lands in the middle of a bar.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

ERASE_LINE = "\r\x1b[K"


class ProgressLine:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.text = ""
        self.terminal = bool(getattr(out, "isatty", lambda: False)())

    def show(self, text: str) -> None:
        """Draw `text` in place of the line shown before."""
        self.text = text
        self.out.write((ERASE_LINE if self.terminal else "\r") + text, ending="")
        self.out.flush()

    def end(self) -> None:
        """Leave the line as it is and move to the next one."""
        if self.text:
            self.out.write("")
            self.out.flush()
        self.text = ""

    def before_log(self) -> None:
        if not self.text:
            return
        self.out.write(ERASE_LINE if self.terminal else "\n", ending="")
        self.out.flush()

    def after_log(self) -> None:
        if self.text:
            self.show(self.text)

    @contextlib.contextmanager
    def logs_apart(self) -> Iterator[ProgressLine]:
        # the console handlers of settings.LOGGING (not subclasses such as a test's capture handler)
        handlers = [handler for handler in logging.getLogger().handlers if type(handler) is logging.StreamHandler]
        originals = [handler.stream for handler in handlers]
        for handler, stream in zip(handlers, originals, strict=True):
            handler.setStream(_AroundProgress(stream, self))
        try:
            yield self
        finally:
            for handler, stream in zip(handlers, originals, strict=True):
                handler.setStream(stream)


class _AroundProgress:
    """A log handler's stream: each written log line takes the progress line away first."""

    def __init__(self, stream: Any, line: ProgressLine) -> None:
        self.stream = stream
        self.line = line

    def write(self, text: str) -> int:
        self.line.before_log()
        written = self.stream.write(text)
        self.stream.flush()
        if text.endswith("\n"):
            self.line.after_log()
        return written

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


# An outside service's failure codes, and the settings that name its host (plus what else to check).
_SERVICE_OF_CODE = {
    "bilibili_unavailable": ("Bilibili", "BILIBILI_API_BASE", "BILIBILI_TIMEOUT_SECONDS"),
    "risk_control": ("Bilibili", "BILIBILI_API_BASE", "BILIBILI_SESSDATA"),
    "audio_download_failed": ("Bilibili's audio CDN", "BILIBILI_API_BASE", "BILIBILI_TIMEOUT_SECONDS"),
    "asr_unreachable": ("the speech recognition service", "ASR_BASE_URL", "ASR_BACKEND"),
    "asr_timeout": ("the speech recognition service", "ASR_BASE_URL", "ASR_TIMEOUT_SECONDS"),
    "llm_failed": ("the LLM", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
    "embedding_failed": ("the embedding service", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
}


def connection_hint(code: str) -> str:
    """For a command's error line: the host the failed service lives at and what to check, or ""."""
    from django.conf import settings

    if code not in _SERVICE_OF_CODE:
        return ""
    service, host_setting, other = _SERVICE_OF_CODE[code]
    if host_setting == "ASR_BASE_URL" and settings.ASR_BACKEND == "bcut":
        host_setting = "BCUT_API_BASE"
    host = getattr(settings, host_setting)
    proxy = f"OUTBOUND_PROXY={settings.OUTBOUND_PROXY}" if settings.OUTBOUND_PROXY else "OUTBOUND_PROXY (unset)"
    return f"\n  {service} at {host}: check {host_setting}, {other}, {proxy} and this machine's network"

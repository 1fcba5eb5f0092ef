"""Run a command's coroutine so that Ctrl-C (SIGINT) always stops it.

    try:
        result = run_interruptible(self.work())
    except KeyboardInterrupt:
        ...  # Ctrl-C: the work was cancelled and every task it left has ended (saved what it had)

`asyncio.run` turns the first Ctrl-C into one cancellation of its main task, and only when the
process has Python's default SIGINT handler. So a process started with SIGINT ignored (a background
job of a non-interactive shell; Python then leaves it ignored) or blocked never hears Ctrl-C, and a
cancellation that some code swallows is lost: either way the command runs on to its end. Here the
loop handles SIGINT itself (which overrides an inherited "ignored"): the first Ctrl-C cancels the
work and cancels it again every RECANCEL_SECONDS until it has ended; then the tasks it left behind
(a summary's generation) are cancelled once and awaited, so they save what they had. A second
Ctrl-C raises KeyboardInterrupt at once. Outside the main thread (a test calling the command) there
is no Ctrl-C to hear and it is plain `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any

RECANCEL_SECONDS = 0.5


def run_interruptible[T](work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in a new event loop; Ctrl-C cancels it for sure and raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(work)
    ctrl_c = _CtrlC()
    result = asyncio.run(ctrl_c.run(work))
    if ctrl_c.presses:
        raise KeyboardInterrupt
    return result


class _CtrlC:
    """The loop's SIGINT handler for one piece of work."""

    def __init__(self) -> None:
        self.presses = 0
        self.task: asyncio.Task | None = None

    async def run[T](self, work: Coroutine[Any, Any, T]) -> T | None:
        """The work's result; None when Ctrl-C stopped it (the caller raises KeyboardInterrupt)."""
        loop = asyncio.get_running_loop()
        self.task = task = loop.create_task(work)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])  # an inherited block would hold it back
        previous = signal.getsignal(signal.SIGINT)
        loop.add_signal_handler(signal.SIGINT, self.pressed)
        try:
            await asyncio.wait([task])
            if self.presses:
                await _left_tasks_ended()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        finished = not task.cancelled() and task.exception() is None
        if self.presses and not finished:
            return None
        self.presses = 0  # it finished anyway (Ctrl-C came as it ended): its result stands
        return task.result()

    def pressed(self) -> None:
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, out of the loop
        self._cancel()

    def _cancel(self) -> None:
        """Cancel the work, and again later while it runs on (it may have swallowed the cancellation)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            asyncio.get_running_loop().call_later(RECANCEL_SECONDS, self._cancel)


async def _left_tasks_ended() -> None:
    """Cancel the tasks the work left running, once, and wait for them: they save what they had."""
    left = asyncio.all_tasks() - {asyncio.current_task()}
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left)

"""core.interrupts: Ctrl-C on a command's coroutine is never lost."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from core.interrupts import run_interruptible


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_swallowed_cancellation_does_not_lose_the_ctrl_c() -> None:
    assert threading.current_thread() is threading.main_thread()  # else SIGINT would stop pytest
    seen = []

    async def work() -> str:
        asyncio.get_running_loop().call_soon(ctrl_c)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # swallowed, as a library may
            seen.append("cancelled")
        await asyncio.sleep(30)
        return "ran on to the end"

    with pytest.raises(KeyboardInterrupt):
        run_interruptible(work())
    assert seen == ["cancelled"]


def test_the_tasks_the_work_left_save_what_they_had_before_it_returns() -> None:
    saved = []

    async def generation() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # saving takes a trip to the database
            saved.append("interrupted")
            raise

    async def work() -> None:
        left = asyncio.ensure_future(generation())  # like generation_start: it outlives the request
        asyncio.get_running_loop().call_soon(ctrl_c)
        await asyncio.sleep(30)
        await left

    with pytest.raises(KeyboardInterrupt):
        run_interruptible(work())
    assert saved == ["interrupted"]


def test_work_that_ends_without_ctrl_c_returns_its_result_and_leaves_sigint_as_it_was() -> None:
    before = signal.getsignal(signal.SIGINT)

    async def work() -> str:
        return "done"

    assert (run_interruptible(work()), signal.getsignal(signal.SIGINT)) == ("done", before)

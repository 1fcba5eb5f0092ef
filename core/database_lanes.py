"""A few shared database threads per server process ("lanes"), for async code that calls the ORM.

Django's connections belong to a thread, so the sync calls of one socket must run on one thread,
one at a time: asgiref's `ThreadSensitiveContext` gives the socket its executor. A thread per
socket made 200 threads contend for the GIL with the event loop at every burst of questions
(issue 12); DATABASE_LANES one-thread executors, handed out in turn, keep the loop fed. Whoever
enters a lane must not leave tasks behind that call the database after it exits (asgiref refuses
them): a task that may outlive its caller runs in `context_outside_lanes()`.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from channels.db import aclose_old_connections
from django.conf import settings

_lanes: list[ThreadPoolExecutor] = []
_turns = itertools.count()


def database_lane() -> ThreadPoolExecutor:
    """The next of the process's DATABASE_LANES one-thread executors."""
    if not _lanes:
        _lanes.extend(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-lane-{number}")
            for number in range(settings.DATABASE_LANES)
        )
    return _lanes[next(_turns) % len(_lanes)]


async def in_own_lane[T](work: Awaitable[T]) -> T:
    """Await `work` with its database calls in a lane (a socket's); its connection goes back to the
    pool when it ends."""
    async with ThreadSensitiveContext(executor=database_lane()):
        try:
            return await work
        finally:
            await aclose_old_connections()


def context_outside_lanes() -> contextvars.Context:
    """A copy of the current context for a task that may outlive its caller's lane: its database
    calls go where asgiref sends calls made outside any lane (the thread of an `async_to_sync`
    caller, else asgiref's one shared thread), not to a lane that closes under it."""
    context = contextvars.copy_context()
    context.run(SyncToAsync.thread_sensitive_context.set, None)
    return context

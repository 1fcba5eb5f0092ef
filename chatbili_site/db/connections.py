"""Database connections in long-lived async code (websocket consumers, streamed generation)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import close_old_connections


async def release_db_connection() -> None:
    """Give this context's connection back to the pool, e.g. before a long LLM stream.

    Async ORM calls run in a thread that keeps its connection checked out until it is closed;
    with CONN_MAX_AGE = 0 (required by the pool), closing returns it to the pool.
    """
    await sync_to_async(close_old_connections)()

"""The cross-process channel layer of the embedded default: channels-postgres on our PostgreSQL.

Messages go through a table whose insert trigger sends NOTIFY; every process LISTENs on one
connection. Three adjustments to the library (1.1.4):
- the embedded server's unix socket directory is found the way `chatbili_site.db.base` finds it;
- one small connection pool per event loop instead of one global pool: a task worker runs each
  task in a fresh event loop, and a pool opened on a closed loop cannot be used again;
- `group_discard` deletes with the pool instead of a Django database alias named
  "channels_postgres" that this site does not define;
- a channel made by `new_channel` belongs to this process only, so it is marked as ours at once:
  the library takes an advisory lock on the first `receive` and drops notifications that arrive
  before it, which lost a message sent to a new channel right before receiving (the health check);
- the listener connects again when its connection drops (PostgreSQL restarted), and pooled
  connections are checked before use, so the layer recovers from an outage without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from channels_postgres import db as layer_db
from channels_postgres.core import PostgresChannelLayer
from psycopg import sql

from chatbili_site.db import embedded

LAYER_POOL_MIN_SIZE = 1
LAYER_POOL_MAX_SIZE = 4  # plus one LISTEN connection per event loop that receives
LISTEN_RETRY_FIRST_SECONDS = 0.5
LISTEN_RETRY_MAX_SECONDS = 5.0

logger = logging.getLogger(__name__)


async def _configure_connection(connection: psycopg.AsyncConnection) -> None:
    await connection.set_autocommit(True)
    connection.prepare_threshold = 0


class PerLoopDatabaseLayer(layer_db.DatabaseLayer):
    """channels-postgres' queries, with one pool per running event loop."""

    def __init__(self, psycopg_options: dict[str, Any], db_params: dict[str, Any]) -> None:
        super().__init__(psycopg_options, db_params)
        self.pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, psycopg_pool.AsyncConnectionPool] = (
            weakref.WeakKeyDictionary()
        )
        self.pool_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def get_db_pool(self, db_params: dict[str, Any]) -> psycopg_pool.AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self.pools.get(loop)
        if pool is not None:
            return pool
        lock = self.pool_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            pool = self.pools.get(loop)
            if pool is None:
                pool = psycopg_pool.AsyncConnectionPool(
                    conninfo=psycopg.conninfo.make_conninfo(conninfo="", **db_params),
                    open=False,
                    configure=_configure_connection,
                    check=psycopg_pool.AsyncConnectionPool.check_connection,  # drops connections of a dead server
                    min_size=self.psycopg_options.get("min_size", LAYER_POOL_MIN_SIZE),
                    max_size=self.psycopg_options.get("max_size", LAYER_POOL_MAX_SIZE),
                )
                await pool.open(wait=True)
                self.pools[loop] = pool
        return pool

    async def delete_channel_group(self, group_key: str, channel: str) -> None:
        statement = sql.SQL("DELETE FROM {table} WHERE group_key = %s AND channel = %s").format(
            table=sql.Identifier(layer_db.GROUP_CHANNEL_TABLE)
        )
        pool = await self.get_db_pool(db_params=self.db_params)
        async with pool.connection() as connection:
            await connection.execute(statement, (group_key, channel))


class EmbeddedPostgresChannelLayer(PostgresChannelLayer):
    """PostgresChannelLayer on the site's database, embedded or not (CONFIG is a DATABASES entry)."""

    def __init__(self, **config: Any) -> None:
        options = dict(config.get("OPTIONS", {}))
        options.pop("pool", None)
        datadir = options.pop("embedded_datadir", None)
        if datadir:
            config = {**config, "HOST": embedded.ensure_running(Path(datadir))}
        config = {"USER": "", "PASSWORD": "", "HOST": "", "PORT": "", "TIME_ZONE": None, **config, "OPTIONS": options}
        super().__init__(**config)
        self.django_db = PerLoopDatabaseLayer(config.get("PSYCOPG_OPTIONS", {}), self.db_params)

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await super().new_channel(prefix)
        self._channel_advisory_locks[channel] = True
        return channel

    async def listen_to_all_channels(self) -> None:
        """The library's listener, kept alive: when its connection drops (PostgreSQL restarted), it
        listens again after a pause (doubling up to LISTEN_RETRY_MAX_SECONDS), first delivering the
        messages stored meanwhile. Without this the process never heard a message again."""
        delay = LISTEN_RETRY_FIRST_SECONDS
        while True:
            try:
                await super().listen_to_all_channels()
                return  # shut down on purpose
            except Exception as exc:  # noqa: BLE001 - any failure of the connection: listen again
                logger.warning("channel layer listener lost its connection (%s); listening again in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTEN_RETRY_MAX_SECONDS)

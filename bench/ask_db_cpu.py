"""The CPU of one ask's gate, begin and end, in-process (issue 12: the database work of an answer).

Sequential warm asks through `chat.gate.generation_open` against the fake OpenAI-compatible server
(a one-token reply, no delay), on a fresh bench database, DEBUG off (as in production: no query
log). It prints the process CPU (time.process_time, all threads) of each stage, median and mean:
- gate: `generation_open` (the part, its readiness, the quota check and reservation);
- begin: the first event (the question and the empty answer saved; the question's embedding
  request starts meanwhile);
- end: from the last token to the stream's end (the usage record, the answer saved, the
  reservation released, the connection given back);
- whole ask: all of it, retrieval and the LLM request included;
and, for one ask, its SQL statements and trips to the database thread (sync_to_async calls).
Run: .venv/bin/python bench/ask_db_cpu.py [--asks 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import bench_database, free_port, machine, setup_django, start_fake_openai

QUESTION = "红烧肉怎么做？"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=300, help="warm asks measured (after 20 to warm up)")
    asks = parser.parse_args().asks
    port = free_port()
    os.environ.update(
        {
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OUTBOUND_PROXY": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-" + "x" * 50,
            "QUOTA_REQUESTS_PER_MINUTE": "0",
            "QUOTA_DAILY_TOKENS": "0",
        }
    )
    setup_django()
    llm = start_fake_openai(port, reply="好", token_delay=0.0)
    try:
        with bench_database("bench_ask_db_cpu"):
            stages, statements, trips = asyncio.run(measure(asks))
    finally:
        llm.terminate()
    print(f"ask_db_cpu: {asks} warm sequential asks, {machine()}")
    for name, values in stages.items():
        print(f"  {name:12s} CPU median {statistics.median(values):6.2f} ms  mean {statistics.fmean(values):6.2f} ms")
    print(f"  one ask: {len(statements)} SQL statements, {trips} trips to the database thread")
    for sql in statements:
        print("    " + " ".join(sql.split())[:140])


async def measure(asks: int) -> tuple[dict[str, list[float]], list[str], int]:
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model
    from django.db import connections

    from tests.factories import ready_part

    part = await ready_part()
    users = [await sync_to_async(get_user_model().objects.create_user)(f"asker{i}") for i in range(40)]
    stages: dict[str, list[float]] = {"gate": [], "begin": [], "end": [], "whole ask": []}
    for index in range(20 + asks):
        await ask(part, users[index % len(users)], stages if index >= 20 else None)
    statements, trips = await counted(lambda: ask(part, users[0], None))
    await sync_to_async(connections.close_all)()
    return stages, statements, trips


async def ask(part: Any, user: Any, stages: dict[str, list[float]] | None) -> None:
    from channels.db import aclose_old_connections

    from chat.gate import AnswerOrder, generation_open

    times = [time.process_time()]
    events = await generation_open(user=user, bvid=part.video.bvid, page=part.page, order=AnswerOrder(QUESTION))
    times.append(time.process_time())
    first = await anext(events)
    times.append(time.process_time())
    assert first["type"] == "start", first
    last = ""
    async for event in events:
        last = event["type"]
        if last == "token":
            after_token = time.process_time()
    assert last == "done", last
    await events.aclose()
    await aclose_old_connections()
    times.append(time.process_time())
    if stages is not None:
        for name, spent in zip(
            stages, (times[1] - times[0], times[2] - times[1], times[3] - after_token, times[3] - times[0]), strict=True
        ):
            stages[name].append(spent * 1000)


async def counted(run: Callable[[], Any]) -> tuple[list[str], int]:
    """The SQL statements and sync_to_async calls of `run()`."""
    import asgiref.sync
    from django.db.backends import utils

    statements: list[str] = []
    trips = [0]
    execute, call = utils.CursorWrapper._execute, asgiref.sync.SyncToAsync.__call__

    def logged_execute(self: Any, sql: str, *args: Any) -> Any:
        statements.append(sql)
        return execute(self, sql, *args)

    async def counted_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        trips[0] += 1
        return await call(self, *args, **kwargs)

    utils.CursorWrapper._execute, asgiref.sync.SyncToAsync.__call__ = logged_execute, counted_call
    try:
        await run()
    finally:
        utils.CursorWrapper._execute, asgiref.sync.SyncToAsync.__call__ = execute, call
    return statements, trips[0]


if __name__ == "__main__":
    main()

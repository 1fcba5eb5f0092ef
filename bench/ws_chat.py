"""Websocket chat bench: N concurrent signed-in chats against a fake LLM at a fixed token rate.

Everything runs here on loopback: a real daphne, the fake OpenAI-compatible server in its own
process (one token every --token-delay seconds), and N websocket clients in this process. All N
sockets are opened first (20 handshakes at a time), then all N questions are sent at once.
It reports tokens lost, the overhead to first token our server adds over the fake's own delay,
and the p50/p99 gap between tokens that our server adds.
Run: .venv/bin/python bench/ws_chat.py [--clients 50,200] [--token-delay 0.02] [--tokens 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter

from common import bench_database, database_url, free_port, machine, setup_django, start_daphne, start_fake_openai

REPLY_TOKEN = "好"
# Sockets are opened this many at a time; then every client asks at the same moment.
HANDSHAKES_AT_ONCE = 20


def prepare(clients: int) -> list[str]:
    """A ready part and `clients` signed-in users; returns their session cookies."""
    from asgiref.sync import async_to_sync
    from django.contrib.auth.models import User
    from django.test import Client

    from tests.factories import ready_part

    async_to_sync(ready_part)()
    cookies = []
    for number in range(clients):
        user = User.objects.create_user(f"bench{number}")
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    return cookies


async def one_chat(url: str, cookie: str, handshakes: asyncio.Semaphore, everyone_in: asyncio.Barrier) -> dict:
    """Open the socket (a bounded number of handshakes at once), wait for every client, then ask."""
    import websockets

    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://{url}"}
    async with handshakes:
        ws = await websockets.connect(f"ws://{url}/ws/videos/BV1xx411c7mD/1/", additional_headers=headers)
        await ws.recv()  # progress
    async with ws:
        await everyone_in.wait()
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "ask", "question": "红烧肉怎么做？"}))
        token_times, text = [], ""
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "token":
                token_times.append(time.perf_counter())
                text += frame["text"]
            elif frame["type"] in ("done", "error"):
                reason = frame.get("code", "") if frame["type"] == "error" else ""
                return {"sent": sent, "tokens": token_times, "text": text, "end": frame["type"], "reason": reason}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(clients: int, results: list, expected: str, token_delay: float) -> None:
    failures = [r for r in results if isinstance(r, BaseException) or r["end"] != "done"]
    good = [r for r in results if not isinstance(r, BaseException) and r["end"] == "done"]
    lost = sum(len(expected) - len(r["text"]) for r in good) + len(expected) * len(failures)
    first = [(r["tokens"][0] - r["sent"] - token_delay) * 1000 for r in good if r["tokens"]]
    gaps = [(b - a - token_delay) * 1000 for r in good for a, b in zip(r["tokens"], r["tokens"][1:], strict=False)]
    print(f"\nN = {clients}: {len(good)} chats done, {len(failures)} failed")
    reasons = Counter(repr(r)[:80] if isinstance(r, BaseException) else r["reason"] for r in failures)
    for reason, count in reasons.most_common(3):
        print(f"  failure x{count}: {reason}")
    print(f"  tokens lost: {lost} of {len(expected) * clients}")
    if first:
        print(f"  overhead to first token (ms): p50 {percentile(first, 0.5):.1f}  p99 {percentile(first, 0.99):.1f}")
    if gaps:
        print(
            f"  gap between tokens added by us (ms): p50 {percentile(gaps, 0.5):.1f}  p99 {percentile(gaps, 0.99):.1f}"
            f"  (mean {statistics.fmean(gaps):.1f}; {len(gaps)} gaps; tokens may be coalesced, so gaps can be < 0)"
        )


async def run_clients(url: str, cookies: list[str]) -> list:
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    everyone_in = asyncio.Barrier(len(cookies))
    chats = (one_chat(url, cookie, handshakes, everyone_in) for cookie in cookies)
    return await asyncio.gather(*chats, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", default="50,200")
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--tokens", type=int, default=60)
    args = parser.parse_args()
    counts = [int(value) for value in args.clients.split(",")]

    llm_port, web_port = free_port(), free_port()
    os.environ.update(
        {"OPENAI_API_KEY": "bench-key", "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1", "OUTBOUND_PROXY": ""}
    )
    setup_django()
    from django.db import connection

    llm = start_fake_openai(llm_port, reply=REPLY_TOKEN * args.tokens, token_delay=args.token_delay)
    try:
        with bench_database("bench_ws_chat"):
            env = {**os.environ, "DATABASE_URL": database_url()}
            cookies = prepare(max(counts))
            connection.close_pool()
            daphne = start_daphne(web_port, env)
            try:
                print(f"machine: {machine()}")
                print(f"fake LLM: {args.tokens} tokens, one every {args.token_delay * 1000:.0f} ms; one daphne process")
                for clients in counts:
                    results = asyncio.run(run_clients(f"127.0.0.1:{web_port}", cookies[:clients]))
                    report(clients, results, REPLY_TOKEN * args.tokens, args.token_delay)
            finally:
                daphne.terminate()
                daphne.wait(timeout=30)
    finally:
        llm.terminate()
        llm.wait()


if __name__ == "__main__":
    main()

"""Cached summary bench: requests/s and p50/p99 latency through the API and through the page.

A real daphne process serves a throwaway database holding one ready part whose summary is
already made (offline mode, so no LLM is involved). This process is the client: httpx, C
requests in flight at a time, on loopback. Scenarios, each after a warm-up:
- api json:  GET /api/v1/videos/{bvid}/parts/1/summary                (Bearer token)
- api sse:   GET /api/v1/videos/{bvid}/parts/1/summary?stream=true    (Bearer token; start, token, done)
- page:      GET /videos/{bvid}/1/                                     (session cookie; the server-rendered page)
- floor:     GET /api/v1/version (no auth, no database), for scale: the same middleware and ninja,
             a sync view, so one hand-off to the request's thread, as many as the cached read's
             token check (which reads the summary in its one statement)
Every response is checked (status and summary text). Client and server share the machine's cores.
Each line also gives the server's CPU per request (user + system time of the daphne process, from
/proc), which other work on a shared machine disturbs less than req/s; then the ratio of api json
to the floor in the same run (issue 12's target: >= 0.85). With --rounds N the scenarios alternate
N times (short rounds keep both under the same background load) and the ratio's median and range
are printed, with the same ratio from server CPU per request (floor's / api json's).
Run: .venv/bin/python bench/api_cached.py [--requests 1000] [--concurrency 1,8] [--only "floor,api json"] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from common import bench_database, database_url, free_port, machine, setup_django, start_daphne

BVID = "BV1xx411c7mD"
WARMUP = 30


def prepare() -> tuple[str, str, str]:
    """A ready part with its summary made; returns (token, session cookie, a line of the summary)."""
    from asgiref.sync import async_to_sync
    from django.contrib.auth.models import User
    from django.test import Client

    from chat.services.api_tokens import api_token_create
    from chat.summaries import summary_get_or_generate
    from tests.factories import ready_part

    part = async_to_sync(ready_part)()
    summary = async_to_sync(summary_get_or_generate)(part, "zh")
    user = User.objects.create_user("bench")
    _, token = api_token_create(user=user, name="bench")
    client = Client()
    client.force_login(user)
    marker = summary.key_points[0]["text"][-6:]  # plain text, in the JSON, the SSE and the page's HTML
    return token, client.cookies["sessionid"].value, marker


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(client, path: str, params: dict, marker: str, requests: int, concurrency: int) -> tuple[float, list]:
    """Send `requests` GETs, `concurrency` at a time; returns (elapsed seconds, latencies in ms)."""
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            response = await client.get(path, params=params)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or (marker and marker not in response.text):  # JSON is UTF-8
                raise SystemExit(f"{path}: HTTP {response.status_code}, no {marker!r} in {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def bench(
    url: str,
    server_pid: int,
    token: str,
    cookie: str,
    marker: str,
    requests: int,
    concurrencies: list[int],
    only: list[str],
    rounds: int,
) -> None:
    import httpx

    limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=max(concurrencies))
    api = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60)
    page = httpx.AsyncClient(base_url=url, cookies={"sessionid": cookie}, limits=limits, timeout=60)
    summary = f"/api/v1/videos/{BVID}/parts/1/summary"
    scenarios = [
        ("floor", api, "/api/v1/version", {}),  # no auth, no database: the server's own cost
        ("api json", api, summary, {}),
        ("api sse", api, summary, {"stream": "true"}),
        ("page", page, f"/videos/{BVID}/1/", {}),
    ]
    async with api, page:
        for concurrency in concurrencies:
            print(f"\nconcurrency {concurrency}, {requests} requests each:")
            ratios, cpu_ratios = [], []
            for _ in range(rounds):
                figures = {}
                for name, client, path, params in scenarios:
                    if not only or name in only:
                        figures[name] = await scenario(
                            client, name, path, params, marker, requests, concurrency, server_pid
                        )
                if "floor" in figures and "api json" in figures:
                    ratios.append(figures["api json"][0] / figures["floor"][0])
                    cpu_ratios.append(figures["floor"][1] / figures["api json"][1])
                    print(f"  ratio api json / floor: {ratios[-1]:.2f} (target >= 0.85)")
            if len(ratios) > 1:
                print(f"  ratio of {len(ratios)} rounds: median {spread(ratios)} (target >= 0.85)")
                print(f"  same from server CPU per request (floor's / api json's): median {spread(cpu_ratios)}")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}, range {min(values):.2f}-{max(values):.2f}"


async def scenario(
    client, name: str, path: str, params: dict, marker: str, requests: int, concurrency: int, server_pid: int
) -> tuple[float, float]:
    """One scenario after its warm-up: prints its line, returns its req/s and server CPU ms per request."""
    expected = "" if name == "floor" else marker
    await run(client, path, params, expected, WARMUP, concurrency)
    cpu_before = cpu_seconds(server_pid)
    elapsed, latencies = await run(client, path, params, expected, requests, concurrency)
    cpu_ms = (cpu_seconds(server_pid) - cpu_before) * 1000 / requests
    print(
        f"  {name:9} {requests / elapsed:7.1f} req/s   p50 {percentile(latencies, 0.5):6.1f} ms"
        f"   p99 {percentile(latencies, 0.99):6.1f} ms   server CPU {cpu_ms:5.2f} ms/request"
    )
    return requests / elapsed, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the scenarios, alternating; median ratio")
    parser.add_argument("--only", default="", help="scenarios to run, comma-separated (default: all)")
    args = parser.parse_args()
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    only = [name.strip() for name in args.only.split(",") if name.strip()]

    # Offline mode: the summary is extractive and cached; no LLM or outside host is ever called.
    os.environ.update({"OPENAI_API_KEY": "", "OUTBOUND_PROXY": "", "DEBUG": "false", "SECRET_KEY": "bench-secret"})
    os.environ.setdefault("QUOTA_REQUESTS_PER_MINUTE", "0")
    setup_django()
    from django.db import connection

    with bench_database("bench_api_cached"):
        env = {**os.environ, "DATABASE_URL": database_url()}
        token, cookie, marker = prepare()
        connection.close_pool()
        port = free_port()
        daphne = start_daphne(port, env)
        try:
            print(f"machine: {machine()}")
            print("one daphne process, offline cached summary, client in this process (httpx, keep-alive)")
            asyncio.run(
                bench(
                    f"http://127.0.0.1:{port}",
                    daphne.pid,
                    token,
                    cookie,
                    marker,
                    args.requests,
                    concurrencies,
                    only,
                    args.rounds,
                )
            )
        finally:
            daphne.terminate()
            daphne.wait(timeout=30)


if __name__ == "__main__":
    main()

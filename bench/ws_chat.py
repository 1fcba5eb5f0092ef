"""Websocket chat bench: N concurrent signed-in chats against a fake LLM at a fixed token rate.

Everything runs here on loopback: real daphne processes (--servers N share one listening socket
through daphne's --fd, as `runsite --servers` does), the fake OpenAI-compatible server in its own
process (one token every --token-delay seconds, the first one after the same delay), and the
websocket clients in this process. It reports, against the targets of issue 12:
- the fake's own time to first token, measured from here once it is warm (what an LLM takes is not
  ours): the first-token overheads below are beyond it;
- the first ask after the servers start: time to first token beyond the fake's own;
- a warm single user: the same overhead (median of five asks);
- for each N: all N sockets open first (20 handshakes at a time), then all N ask at once (each
  user a question of their own, so that nothing can be shared between identical ones); tokens
  lost, first-token overhead p50/p99, the gap between tokens our server adds (p99), and the CPU
  the site's processes spent per streamed answer (from /proc, user + system time).
Run: .venv/bin/python bench/ws_chat.py [--clients 50,200] [--servers 1] [--token-delay 0.02] [--tokens 150]
     [--token-window-ms MS]
With --profile DIR (needs `pip install py-spy`, not a requirement), each N's run is sampled into
DIR/ws-<N>-<pid>.txt as collapsed stacks (CPU time of the servers' Python threads; the measured
CPU then includes py-spy's interruptions, so take the figures from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import ROOT, bench_database, database_url, free_port, machine, setup_django, start_fake_openai

REPLY_TOKEN = "好"
HANDSHAKES_AT_ONCE = 20  # sockets are opened this many at a time; then every client asks at once
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def start_servers(count: int, env: dict) -> tuple[int, list[subprocess.Popen]]:
    """`count` daphne processes accepting on one shared listening socket; returns its port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    command = [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "chatbili_site.asgi:application"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    listener.close()
    wait_until_served(port, processes)
    return port, processes


def wait_until_served(port: int, processes: list[subprocess.Popen], timeout: float = 60) -> None:
    """Until the site answers /healthz (a listening socket alone says nothing about readiness)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise SystemExit("a server process exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the site did not answer /healthz")


def cpu_seconds(pids: list[int], *, loop_only: bool = False) -> float:
    """User + system CPU time of these processes so far (only their main, event-loop threads)."""
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/task/{pid}/stat" if loop_only else f"/proc/{pid}/stat")
        fields = stat.read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


async def one_chat(
    url: str, cookie: str, question: str, handshakes: asyncio.Semaphore, everyone_in: asyncio.Barrier
) -> dict:
    """Open the socket (a bounded number of handshakes at once), wait for every client, then ask."""
    import websockets

    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://{url}"}
    async with handshakes:
        ws = await websockets.connect(f"ws://{url}/ws/videos/BV1xx411c7mD/1/", additional_headers=headers)
        await ws.recv()  # progress
    async with ws:
        await everyone_in.wait()
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "ask", "question": question}))
        token_times, text = [], ""
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "token":
                token_times.append(time.perf_counter())
                text += frame["text"]
            elif frame["type"] in ("done", "error"):
                reason = frame.get("code", "") if frame["type"] == "error" else ""
                return {"sent": sent, "tokens": token_times, "text": text, "end": frame["type"], "reason": reason}


async def run_clients(url: str, cookies: list[str]) -> list:
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    everyone_in = asyncio.Barrier(len(cookies))
    # every user asks a question of their own: nothing may be shared between identical questions
    questions = [f"第{number}位：红烧肉怎么做？" for number in range(len(cookies))]
    chats = (one_chat(url, *chat, handshakes, everyone_in) for chat in zip(cookies, questions, strict=True))
    return await asyncio.gather(*chats, return_exceptions=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def first_token_overhead_ms(result: dict, llm_first_token: float) -> float:
    return (result["tokens"][0] - result["sent"] - llm_first_token) * 1000


def llm_first_token_seconds(llm_url: str, asks: int = 5) -> float:
    """The fake LLM's own time to its first token, as a client here sees it: the median of `asks`
    streamed requests on one kept-alive connection, after one that warms the fake."""
    import httpx

    body = {"model": "bench", "messages": [{"role": "user", "content": "红烧肉怎么做？"}], "stream": True}
    times = []
    with httpx.Client(base_url=llm_url, headers={"Authorization": "Bearer bench-key"}) as client:
        for _ in range(asks + 1):
            started = time.perf_counter()
            with client.stream("POST", "/chat/completions", json=body) as response:
                for chunk in response.iter_bytes():
                    if REPLY_TOKEN.encode() in chunk or b"\\u597d" in chunk:
                        times.append(time.perf_counter() - started)
                        break
    return statistics.median(times[1:])


async def llm_burst_first_tokens(llm_url: str, clients: int) -> list[float]:
    """The fake LLM's own times to first token when `clients` streamed requests reach it at once, as
    in a run of N (each read to its end, so the fake streams as much): raw HTTP/1.1 over asyncio
    streams, so that this client adds little CPU of its own."""
    host_port = llm_url.removeprefix("http://").split("/", 1)[0]
    host, port = host_port.split(":")
    body = json.dumps(
        {"model": "bench", "messages": [{"role": "user", "content": "红烧肉怎么做？"}], "stream": True}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host_port}\r\nAuthorization: Bearer bench-key\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    start = asyncio.Event()

    async def one() -> float:
        reader, writer = await asyncio.open_connection(host, int(port))
        await start.wait()
        started, first = time.perf_counter(), None
        writer.write(head + body)
        while data := await reader.read(65536):
            if first is None and (REPLY_TOKEN.encode() in data or b"\\u597d" in data):
                first = time.perf_counter() - started
        writer.close()
        return first if first is not None else float("nan")

    requests = [asyncio.ensure_future(one()) for _ in range(clients)]
    await asyncio.sleep(0.5)  # every connection open
    start.set()
    return list(await asyncio.gather(*requests))


def report(clients: int, results: list, expected: str, waits: tuple[float, float], cpu: tuple[float, float]) -> None:
    llm_first_token, token_delay = waits
    failures = [r for r in results if isinstance(r, BaseException) or r["end"] != "done"]
    good = [r for r in results if not isinstance(r, BaseException) and r["end"] == "done"]
    lost = sum(len(expected) - len(r["text"]) for r in good) + len(expected) * len(failures)
    first = [first_token_overhead_ms(r, llm_first_token) for r in good if r["tokens"]]
    gaps = [(b - a - token_delay) * 1000 for r in good for a, b in zip(r["tokens"], r["tokens"][1:], strict=False)]
    print(f"\nN = {clients}: {len(good)} chats done, {len(failures)} failed")
    reasons = Counter(repr(r)[:80] if isinstance(r, BaseException) else r["reason"] for r in failures)
    for reason, count in reasons.most_common(3):
        print(f"  failure x{count}: {reason}")
    print(f"  tokens lost: {lost} of {len(expected) * clients}")
    answers, frames = max(1, len(good)), sum(len(r["tokens"]) for r in good)
    print(
        f"  server CPU per streamed answer: {cpu[0] * 1000 / answers:.1f} ms"
        f" (event-loop threads {cpu[1] * 1000 / answers:.1f} ms; {frames / answers:.0f} token frames per answer)"
    )
    if first:
        print(f"  overhead to first token (ms): p50 {percentile(first, 0.5):.1f}  p99 {percentile(first, 0.99):.1f}")
    if gaps:
        print(
            f"  gap between tokens added by us (ms): p50 {percentile(gaps, 0.5):.1f}  p99 {percentile(gaps, 0.99):.1f}"
            f"  (mean {statistics.fmean(gaps):.1f}; {len(gaps)} gaps; coalesced tokens give gaps < 0)"
        )


def single_user(url: str, cookie: str, llm_first_token: float) -> float:
    result = asyncio.run(run_clients(url, [cookie]))[0]
    if isinstance(result, BaseException) or not result["tokens"]:
        raise SystemExit(f"a single ask failed: {result!r}"[:300])
    return first_token_overhead_ms(result, llm_first_token)


def profiler(pids: list[int], output: Path) -> list[subprocess.Popen]:
    """py-spy sampling each server process into `output`-<pid>.txt (collapsed stacks), until stopped."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--format", "raw", "--rate", "250", "--nonblocking", "--threads"]
    return [
        subprocess.Popen(
            [*command, "--pid", str(pid), "--output", f"{output}-{pid}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def stop_profiler(samplers: list[subprocess.Popen]) -> None:
    for sampler in samplers:
        sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    for sampler in samplers:
        sampler.wait(timeout=60)


def measure(url: str, pids: list[int], cookies: list[str], counts: list[int], args: argparse.Namespace) -> None:
    expected = REPLY_TOKEN * args.tokens
    llm_first_token = llm_first_token_seconds(args.llm_url)
    print(f"fake LLM's own first token, seen from here: {llm_first_token * 1000:.1f} ms (median of 5, warm)")
    print(f"first ask after start: first-token overhead {single_user(url, cookies[0], llm_first_token):.1f} ms")
    warm = [single_user(url, cookies[0], llm_first_token) for _ in range(5)]
    print(f"warm single user: first-token overhead median {statistics.median(warm):.1f} ms (5 asks)")
    for clients in counts:
        samplers = profiler(pids, Path(args.profile) / f"ws-{clients}") if args.profile else []
        before, loop_before = cpu_seconds(pids), cpu_seconds(pids, loop_only=True)
        results = asyncio.run(run_clients(url, cookies[:clients]))
        cpu, loop_cpu = cpu_seconds(pids) - before, cpu_seconds(pids, loop_only=True) - loop_before
        stop_profiler(samplers)
        report(clients, results, expected, (llm_first_token, args.token_delay), (cpu, loop_cpu))
        alone = asyncio.run(llm_burst_first_tokens(args.llm_url, clients))
        print(
            f"  for scale, the fake LLM alone, {clients} requests at once (no site): its first token"
            f" p50 {percentile(alone, 0.5) * 1000:.1f}  p99 {percentile(alone, 0.99) * 1000:.1f} ms"
            " (its own load on these cores; the overheads above count it as ours)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", default="50,200")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--token-window-ms", type=int, default=None, help="TOKEN_FRAME_WINDOW_MS for the servers")
    parser.add_argument("--profile", metavar="DIR", help="sample the servers with py-spy during each N (not installed)")
    args = parser.parse_args()
    counts = [int(value) for value in args.clients.split(",")]

    llm_port = free_port()
    args.llm_url = f"http://127.0.0.1:{llm_port}/v1"
    os.environ.update({"OPENAI_API_KEY": "bench-key", "OPENAI_BASE_URL": args.llm_url, "OUTBOUND_PROXY": ""})
    setup_django()
    from django.db import connection

    llm = start_fake_openai(llm_port, reply=REPLY_TOKEN * args.tokens, token_delay=args.token_delay)
    try:
        with bench_database("bench_ws_chat"):
            cookies = prepare(max(counts))
            connection.close_pool()
            env = {**os.environ, "DATABASE_URL": database_url()}
            if args.token_window_ms is not None:
                env["TOKEN_FRAME_WINDOW_MS"] = str(args.token_window_ms)
            port, servers = start_servers(args.servers, env)
            try:
                print(f"machine: {machine()}")
                print(f"fake LLM: {args.tokens} tokens, one every {args.token_delay * 1000:.0f} ms")
                window = env.get("TOKEN_FRAME_WINDOW_MS", "0")
                print(f"{args.servers} daphne process(es) on one socket; token frame window {window} ms")
                measure(f"127.0.0.1:{port}", [server.pid for server in servers], cookies, counts, args)
            finally:
                for server in servers:
                    server.terminate()
                for server in servers:
                    server.wait(timeout=30)
    finally:
        llm.terminate()
        llm.wait()


if __name__ == "__main__":
    main()

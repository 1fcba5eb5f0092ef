"""CPU per websocket frame in a real daphne process, with and without chatbili_site.socket_writes (issue 12).

    .venv/bin/python bench/ws_frames.py [--sockets 40] [--frames 250] [--gap 0.005] [--rounds 5]

Two daphne processes serve the small ASGI app below (the site's websocket wrappers, observability and the
outage guard, around channels' session middleware and an app that streams token frames, one per `gap`
seconds like the LLM's tokens): one with twisted's own write, one with `socket_writes.install()`. Each
round, `sockets` clients ask both servers in turn for `frames` frames; the servers' user + system CPU
(from /proc) divided by the frames is the figure. Then the wrappers alone: the per-frame cost of the
ASGI send chain in this process (time.process_time over many warm frames), also with channels' own
AuthMiddlewareStack in place of chatbili_site.websocket_session's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port, machine, setup_django, wait_for_port

MODE_VARIABLE = "BENCH_SOCKET_WRITES"
TOKEN = '{"type":"token","text":"小火"}'


async def stream_tokens(scope: dict, receive, send) -> None:
    """Accept, read "frames gap", send that many token frames `gap` seconds apart, then "done"."""
    await receive()
    await send({"type": "websocket.accept"})
    asked = await receive()
    frames, gap = asked["text"].split()
    for _ in range(int(frames)):
        await send({"type": "websocket.send", "text": TOKEN})
        await asyncio.sleep(float(gap))
    await send({"type": "websocket.send", "text": '{"type":"done"}'})
    while (await receive())["type"] != "websocket.disconnect":
        pass


def wrapped(app, *, channels_stack: bool = False):
    """The site's wrappers around `app` as in asgi.py (without the URL router and the origin check);
    `channels_stack`: channels' own AuthMiddlewareStack, with its per-frame session send wrapper."""
    from channels.auth import AuthMiddlewareStack

    from chatbili_site.observability import WebsocketObservability
    from chatbili_site.outage import WebsocketOutageGuard
    from chatbili_site.websocket_session import websocket_auth_stack

    auth_stack = AuthMiddlewareStack if channels_stack else websocket_auth_stack
    return WebsocketObservability(WebsocketOutageGuard(auth_stack(app)))


def _application():
    setup_django()
    if os.environ.get(MODE_VARIABLE) == "fast":
        from chatbili_site import socket_writes

        socket_writes.install()
    return wrapped(stream_tokens)


if os.environ.get(MODE_VARIABLE):  # imported by daphne
    application = _application()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_client(port: int, frames: int, gap: float) -> int:
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/", max_queue=None) as socket_:
        await socket_.send(f"{frames} {gap}")
        received = 0
        while await socket_.recv() != '{"type":"done"}':
            received += 1
    return received


async def burst(port: int, sockets: int, frames: int, gap: float) -> int:
    counts = await asyncio.gather(*(one_client(port, frames, gap) for _ in range(sockets)))
    return sum(counts)


def start_server(mode: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, MODE_VARIABLE: mode, "WARM_START": "false", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.ws_frames:application"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process, port


def servers(arguments: argparse.Namespace) -> dict[str, list[float]]:
    started = {mode: start_server(mode) for mode in ("twisted", "fast")}
    per_frame: dict[str, list[float]] = {mode: [] for mode in started}
    try:
        for _process, port in started.values():  # warm-up round, not counted
            asyncio.run(burst(port, 4, 20, arguments.gap))
        for _ in range(arguments.rounds):
            for mode, (process, port) in started.items():
                before = cpu_seconds(process.pid)
                received = asyncio.run(burst(port, arguments.sockets, arguments.frames, arguments.gap))
                assert received == arguments.sockets * arguments.frames, received
                per_frame[mode].append((cpu_seconds(process.pid) - before) / received * 1e6)
    finally:
        for process, _ in started.values():
            process.terminate()
            process.wait(10)
    return per_frame


async def wrappers_per_frame(frames: int, *, channels_stack: bool = False) -> float:
    """µs of this process's CPU per token frame through the site's wrappers, to a send that does nothing."""

    async def nothing(message: dict) -> None:
        return None

    async def app(scope: dict, receive, send) -> None:
        await send({"type": "websocket.accept"})
        for _ in range(frames):
            await send({"type": "websocket.send", "text": TOKEN})

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/ws/videos/BV1/1/", "headers": []}
    started = time.process_time()
    await wrapped(app, channels_stack=channels_stack)(scope, receive, nothing)
    return (time.process_time() - started) / frames * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=40)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-servers", action="store_true")
    arguments = parser.parse_args()
    print(machine())
    if not arguments.skip_servers:
        print(f"{arguments.sockets} sockets x {arguments.frames} token frames, {arguments.gap * 1000:.0f} ms apart")
        for mode, figures in servers(arguments).items():
            rounded = ", ".join(f"{figure:.1f}" for figure in figures)
            print(f"  daphne CPU per frame, {mode} write: median {statistics.median(figures):.1f} µs ({rounded})")
    setup_django()
    for channels_stack, name in ((False, "the site's stack"), (True, "with channels' AuthMiddlewareStack")):
        asyncio.run(wrappers_per_frame(20_000, channels_stack=channels_stack))  # warm
        figures = [asyncio.run(wrappers_per_frame(100_000, channels_stack=channels_stack)) for _ in range(5)]
        rounded = ", ".join(f"{figure:.2f}" for figure in figures)
        print(f"  ASGI wrappers per frame, {name}: median {statistics.median(figures):.2f} µs ({rounded})")


if __name__ == "__main__":
    main()

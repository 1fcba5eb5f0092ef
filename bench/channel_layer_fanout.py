"""Cross-process channel layer fan-out latency: group_send in this process, receive in another.

For each layer (channels-postgres on the embedded PostgreSQL, channels-redis on a local
redis-server if one is installed) a receiver process joins a group; this process sends
--messages small messages to the group, --interval seconds apart, each carrying its send time;
the receiver reports the delivery latency p50/p99/max and how many arrived.
Run: .venv/bin/python bench/channel_layer_fanout.py [--messages 500] [--interval 0.005]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, bench_database, database_url, free_port, machine, setup_django, wait_for_port

GROUP = "fanout.bench"


async def receive(count: int, wait_seconds: float) -> None:
    """Receiver role: join the group, say ready, collect `count` messages, print latencies as JSON."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel("bench.")
    await layer.group_add(GROUP, channel)
    receiving = asyncio.ensure_future(layer.receive(channel))  # starts the listener of the postgres layer
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    latencies: list[float] = []
    deadline = time.monotonic() + wait_seconds
    while len(latencies) < count and time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(receiving, timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        latencies.append((time.time() - message["sent"]) * 1000)
        receiving = asyncio.ensure_future(layer.receive(channel))
    print(json.dumps(latencies), flush=True)


async def send(count: int, interval: float) -> float:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    started = time.perf_counter()
    for number in range(count):
        await layer.group_send(GROUP, {"type": "bench.message", "number": number, "sent": time.time()})
        await asyncio.sleep(interval)
    return (time.perf_counter() - started - count * interval) / count * 1000


def measure(name: str, env: dict, count: int, interval: float) -> str:
    """Run one receiver process against this process's sends; one line of figures."""
    os.environ.update(env)
    from channels import layers

    layers.channel_layers.backends.clear()
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--role", "receive", "--messages", str(count)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout.readline().strip() == "ready", f"{name}: the receiver did not start"
    from django.conf import settings

    settings.CHANNEL_LAYERS = {"default": layer_settings(env)}
    layers.channel_layers.backends.clear()
    send_ms = asyncio.run(send(count, interval))
    latencies = json.loads(receiver.stdout.readline())
    receiver.wait(timeout=30)
    if not latencies:
        return f"| {name} | 0 / {count} received | | | |"
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"| {name} | {len(latencies)} / {count} | {statistics.median(latencies):.2f} ms | {cuts[98]:.2f} ms "
        f"| {max(latencies):.2f} ms | {send_ms:.2f} ms |"
    )


def layer_settings(env: dict) -> dict:
    """The CHANNEL_LAYERS entry the settings module would build for this environment."""
    code = "import json; from django.conf import settings; print(json.dumps(settings.CHANNEL_LAYERS['default']))"
    output = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "chatbili_site.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def start_redis() -> tuple[subprocess.Popen, str] | None:
    server = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin")
    if server is None:
        return None
    port = free_port()
    directory = tempfile.mkdtemp(prefix="chatbili-redis-")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    return process, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["send", "receive"], default="send")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.005)
    args = parser.parse_args()
    setup_django()
    if args.role == "receive":
        asyncio.run(receive(args.messages, wait_seconds=60))
        return
    print(machine())
    print("| layer | received | p50 | p99 | max | sender's cost per group_send |")
    print("|---|---|---|---|---|---|")
    with bench_database("bench_fanout"):
        url = database_url()
        postgres_env = {"DATABASE_URL": url, "CHANNEL_LAYER": "postgres"}
        print(measure("channels-postgres (embedded PostgreSQL)", postgres_env, args.messages, args.interval))
        redis = start_redis()
        if redis is None:
            print("| channels-redis | redis-server not installed | | | |")
        else:
            process, redis_url = redis
            try:
                redis_env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "CHANNEL_LAYER": "redis"}
                print(measure("channels-redis (local redis-server)", redis_env, args.messages, args.interval))
            finally:
                process.terminate()
                process.wait()


if __name__ == "__main__":
    main()

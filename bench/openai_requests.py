"""CPU of the outbound OpenAI-compatible requests of one chat question, in-process (issue 12).

    .venv/bin/python bench/openai_requests.py [--repeat 200] [--concurrent 200]

Against the fake server (tests/fakes/openai.py) in its own process, so only this process's CPU
(time.process_time) is counted:
- a chat request and an embeddings request sent the SDK's way (`client.chat.completions` /
  `client.embeddings`, params transformed) and through `core.http.openai_post_streamed` (the body
  as built), interleaved so both see the same machine, warm, sequential (the raw body is read);
- one ChatStream (request open + a 20-token reply read) and one question's `embed_texts`;
- `--concurrent` questions at once: one embedding request each (embed_texts) vs the per-loop
  batcher (embed_question), CPU of the whole burst;
- aiohttp connections opened by a second burst of `--concurrent` chat streams after a first one
  (0 means the first burst's kept-alive connections were reused).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, machine, setup_django, start_fake_openai

PORT = free_port()
os.environ.update(
    {"OPENAI_API_KEY": "bench-key", "OPENAI_BASE_URL": f"http://127.0.0.1:{PORT}/v1", "OUTBOUND_PROXY": ""}
)
setup_django()

from chat.llm import ChatStream  # noqa: E402
from core.http import openai_post_streamed, shared_openai_client  # noqa: E402
from videos import embeddings  # noqa: E402

MESSAGES = [
    {"role": "system", "content": "你是视频助手。" * 40},
    {"role": "user", "content": "片段：\n" + "红烧肉的做法是先焯水再炒糖色。" * 60},
    {"role": "user", "content": "红烧肉怎么做？"},
]


def cpu_ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples):.3f} ms, mean {statistics.fmean(samples):.3f} ms"


async def chat_once() -> str:
    stream = ChatStream(MESSAGES, purpose="chat")
    parts = [delta async for delta in stream._stream_with_retries()]  # no UsageRecord (no database here)
    return "".join(parts)


CHAT_BODY = {"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
EMBEDDINGS_BODY = {"model": "e", "input": ["红烧肉怎么做？"], "encoding_format": "float", "dimensions": 1024}


async def chat_sdk_method() -> bytes:
    client = shared_openai_client()
    async with client.chat.completions.with_streaming_response.create(**CHAT_BODY) as response:
        return await response.read()


async def embeddings_sdk_method() -> bytes:
    client = shared_openai_client()
    async with client.embeddings.with_streaming_response.create(**EMBEDDINGS_BODY) as response:
        return await response.read()


def posting(path: str, body: dict):
    async def post() -> bytes:
        response = await openai_post_streamed(shared_openai_client(), path, body)
        try:
            return await response.aread()
        finally:
            await response.aclose()

    return post


async def interleaved(first, second, repeat: int) -> tuple[list[float], list[float]]:
    for _ in range(20):
        await first()
        await second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for make, into in ((first, samples[0]), (second, samples[1])):
            started = time.process_time()
            await make()
            into.append((time.process_time() - started) * 1000)
    return samples


async def timed(make, repeat: int) -> list[float]:
    for _ in range(20):  # warm: client, connections, caches
        await make()
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        await make()
        samples.append((time.process_time() - started) * 1000)
    return samples


async def burst_cpu(make, concurrent: int, rounds: int = 5) -> list[float]:
    await asyncio.gather(*(make(n) for n in range(concurrent)))  # warm connections
    samples = []
    for round_number in range(rounds):
        started = time.process_time()
        await asyncio.gather(*(make(round_number * concurrent + n) for n in range(concurrent)))
        samples.append((time.process_time() - started) * 1000)
    return samples


def count_embedding_requests() -> list[int]:
    """Note each embeddings request from now on (the bench wraps the module's request function)."""
    requests: list[int] = []
    original = embeddings._request_embeddings

    async def counting(client, inputs, *, send_dimensions):
        requests.append(len(inputs))
        return await original(client, inputs, send_dimensions=send_dimensions)

    embeddings._request_embeddings = counting
    return requests


def connector_of_shared_client():
    transport = shared_openai_client()._client._transport  # SDK internals, for counting connections only
    return transport.client.connector if transport.client is not None else None


async def connections_opened_by_second_burst(concurrent: int) -> tuple[int, int]:
    await asyncio.gather(*(chat_once() for _ in range(concurrent)))
    connector = connector_of_shared_client()
    opened = []
    original = connector._create_connection  # aiohttp internal, wrapped to count new connections

    async def counting(*args, **kwargs):
        opened.append(1)
        return await original(*args, **kwargs)

    connector._create_connection = counting
    idle = sum(len(conns) for conns in connector._conns.values())
    await asyncio.gather(*(chat_once() for _ in range(concurrent)))
    connector._create_connection = original
    return idle, len(opened)


async def main(repeat: int, concurrent: int) -> None:
    print(machine())
    for what, sdk_method, path, body in (
        ("chat", chat_sdk_method, "/chat/completions", CHAT_BODY),
        ("embeddings", embeddings_sdk_method, "/embeddings", EMBEDDINGS_BODY),
    ):
        before, after = await interleaved(sdk_method, posting(path, body), repeat)
        print(f"{what} request, the SDK's method: {cpu_ms(before)}; openai_post_streamed: {cpu_ms(after)}")
    chat = await timed(chat_once, repeat)
    print(f"chat stream (open + 20 tokens), CPU per request: {cpu_ms(chat)}")
    embed = await timed(lambda: embeddings.embed_texts(["红烧肉怎么做？"]), repeat)
    print(f"question embedding request, CPU per request: {cpu_ms(embed)}")
    one_each = await burst_cpu(lambda n: embeddings.embed_texts([f"问题{n}：红烧肉怎么做？"]), concurrent)
    print(f"{concurrent} concurrent questions, one request each: CPU per burst {cpu_ms(one_each)}")
    requests = count_embedding_requests()
    batched = await burst_cpu(lambda n: embeddings.embed_question(f"问题{n}：红烧肉怎么做？"), concurrent)
    per_burst = len(requests) / 6  # the warm-up burst and five measured ones
    print(
        f"{concurrent} concurrent questions, batched (embed_question): CPU per burst {cpu_ms(batched)}, "
        f"{per_burst:g} requests per burst (EMBEDDING_BATCH_SIZE {embeddings.settings.EMBEDDING_BATCH_SIZE})"
    )
    idle, opened = await connections_opened_by_second_burst(concurrent)
    print(f"after a burst of {concurrent} chat streams: {idle} idle kept-alive connections; the next opened {opened}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=200)
    arguments = parser.parse_args()
    fake = start_fake_openai(PORT, reply="好" * 20, embedding_dimensions=1024)
    try:
        asyncio.run(main(arguments.repeat, arguments.concurrent))
    finally:
        fake.terminate()
        fake.wait()

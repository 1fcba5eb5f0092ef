"""The fake OpenAI-compatible server speaks the real wire format: checked with the real SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI, fake_embedding, fake_tokens

MESSAGES = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "视频讲了什么？"}]


def client_for(server: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="test-key", base_url=f"{server.url}/v1", max_retries=0)


async def stream_chunks(client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(model="fake-chat", messages=MESSAGES, stream=True, **kwargs)
    return [chunk async for chunk in stream]


def content_of(chunks: list[Any]) -> list[str]:
    return [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]


async def test_streaming_reply_is_parsed_by_the_real_client_with_usage(fake_server: Any) -> None:
    fake = FakeOpenAI(reply="量子比特 can be 0 and 1。")
    server = fake_server(fake.app)
    async with client_for(server) as client:
        chunks = await stream_chunks(client, stream_options={"include_usage": True})

    assert "".join(content_of(chunks)) == "量子比特 can be 0 and 1。"
    assert content_of(chunks) == fake_tokens("量子比特 can be 0 and 1。")
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len(fake_tokens("量子比特 can be 0 and 1。"))
    assert chunks[-1].usage.prompt_tokens == len(fake_tokens("你是助手视频讲了什么？"))
    assert all(chunk.usage is None for chunk in chunks[:-1])
    (request,) = fake.requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"] == MESSAGES


async def test_stream_without_include_usage_has_no_usage_chunk(fake_server: Any) -> None:
    server = fake_server(FakeOpenAI(reply="好的").app)
    async with client_for(server) as client:
        chunks = await stream_chunks(client)
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(content_of(chunks)) == "好的"


def test_stream_wire_format_is_exact(fake_server: Any) -> None:
    server = fake_server(FakeOpenAI(reply="你好").app)
    body = {"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()

    events = raw.split("\n\n")
    assert events[-1] == ""
    assert all(event.startswith("data: ") for event in events[:-1])
    assert events[-2] == "data: [DONE]"
    payloads = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert [p["choices"][0]["delta"] for p in payloads[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "你"},
        {"content": "好"},
        {},
    ]
    assert [p["choices"][0]["finish_reason"] for p in payloads[:-1]] == [None, None, None, "stop"]
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}
    assert len({p["id"] for p in payloads}) == 1
    assert payloads[-1]["choices"] == []
    assert payloads[-1]["usage"]["completion_tokens"] == 2


async def test_tokens_arrive_one_by_one_with_the_configured_delay(fake_server: Any) -> None:
    server = fake_server(FakeOpenAI(reply="一二三四五", token_delay=0.05).app)
    arrivals: list[float] = []
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] >= 0.15  # streamed as produced, not buffered to the end


async def test_reply_callable_sees_the_request_and_non_streaming_reply(fake_server: Any) -> None:
    fake = FakeOpenAI(reply=lambda body: f"你问的是：{body['messages'][-1]['content']}")
    server = fake_server(fake.app)
    async with client_for(server) as client:
        completion = await client.chat.completions.create(model="fake-chat", messages=MESSAGES, temperature=0.2)
    assert completion.choices[0].message.content == "你问的是：视频讲了什么？"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == len(fake_tokens("你问的是：视频讲了什么？"))
    assert fake.requests[0].body["temperature"] == 0.2


async def test_max_tokens_cuts_the_reply_with_finish_reason_length(fake_server: Any) -> None:
    server = fake_server(FakeOpenAI(reply="一二三四五").app)
    async with client_for(server) as client:
        completion = await client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=2)
    assert completion.choices[0].message.content == "一二"
    assert completion.choices[0].finish_reason == "length"


async def test_scripted_429s_then_success(fake_server: Any) -> None:
    fake = FakeOpenAI(reply="ok", failures=[429, 429])
    server = fake_server(fake.app)
    async with client_for(server) as client:
        for _ in range(2):
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="m", messages=MESSAGES)
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "ok"
    assert [request.status for request in fake.requests] == [429, 429, 200]


async def test_always_500_and_wrong_key(fake_server: Any) -> None:
    fake = FakeOpenAI(always_fail=500)
    server = fake_server(fake.app)
    async with client_for(server) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError):
            await client.embeddings.create(model="e", input=["x"])
    fake.always_fail, fake.api_key = None, "another-key"
    async with client_for(server) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="m", messages=MESSAGES)


async def test_disconnect_mid_stream_after_k_tokens(fake_server: Any) -> None:
    fake = FakeOpenAI(reply="一二三四五六七八", disconnect_after_tokens=3)
    server = fake_server(fake.app)
    received: list[str] = []
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert received == ["一", "二", "三"]


async def test_embeddings_honour_dimensions_and_both_encodings(fake_server: Any) -> None:
    fake = FakeOpenAI(embedding_dimensions=12)
    server = fake_server(fake.app)
    async with client_for(server) as client:
        as_base64 = await client.embeddings.create(model="e", input=["量子", "比特"], dimensions=6)
        as_float = await client.embeddings.create(model="e", input="量子", encoding_format="float")
    assert fake.requests[0].body["encoding_format"] == "base64"  # the SDK's default
    assert [item.index for item in as_base64.data] == [0, 1]
    assert as_base64.data[1].embedding == pytest.approx(fake_embedding("比特", 6), abs=1e-6)
    assert as_float.data[0].embedding == fake_embedding("量子", 12)
    assert as_float.usage.prompt_tokens == 2
    assert fake.embedded_inputs == ["量子", "比特", "量子"]


async def test_embedding_knobs_reject_dimensions_reverse_and_drop(fake_server: Any) -> None:
    fake = FakeOpenAI(embedding_dimensions=4, reject_dimensions=True, reverse_embeddings=True)
    server = fake_server(fake.app)
    async with client_for(server) as client:
        with pytest.raises(openai.BadRequestError):
            await client.embeddings.create(model="e", input=["a"], dimensions=2)
        reversed_reply = await client.embeddings.create(model="e", input=["a", "b", "c"], encoding_format="float")
        fake.drop_embeddings = True
        dropped = await client.embeddings.create(model="e", input=["a", "b"], encoding_format="float")
    assert [item.index for item in reversed_reply.data] == [2, 1, 0]
    assert reversed_reply.data[0].embedding == fake_embedding("c", 4)
    assert len(dropped.data) == 1

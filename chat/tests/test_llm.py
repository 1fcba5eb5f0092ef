"""The LLM client: streamed deltas, retries only before the first token, partial text kept on a
mid-stream failure, and a UsageRecord for every call (counted with tiktoken when not reported)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User

from chat.llm import ChatStream, LLMError, chat_complete, estimate_prompt_tokens, llm_available, sse_payloads
from chat.models import UsageRecord
from core.tokens import count_tokens
from tests.fakes.openai import FakeOpenAI, fake_tokens

MESSAGES = [{"role": "system", "content": "你是视频助手。"}, {"role": "user", "content": "这个视频讲了什么？"}]
REPLY = "这个视频讲了量子计算的基本原理，以及 qubit 的叠加态。"
LLM_REPLY = REPLY


async def deltas(stream: ChatStream) -> list[str]:
    return [delta async for delta in stream]


def assert_whole_tokens(received: list[str], tokens: list[str]) -> None:
    """Each delta is one or more whole tokens, in order (what one network read brought)."""
    boundaries = {sum(len(token) for token in tokens[:count]) for count in range(len(tokens) + 1)}
    ends = [len("".join(received[: count + 1])) for count in range(len(received))]
    assert all(delta for delta in received) and set(ends) <= boundaries, received


class ScriptedBody:
    """A streamed body that arrives in the given pieces (what `sse_payloads` reads)."""

    def __init__(self, *pieces: bytes, fail_with: Exception | None = None) -> None:
        self.pieces = pieces
        self.fail_with = fail_with
        self.request = httpx2.Request("POST", "http://llm.invalid/v1/chat/completions")

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.fail_with is not None:
            raise self.fail_with


async def batches(body: ScriptedBody) -> list[list[bytes]]:
    return [batch async for batch in sse_payloads(body)]  # type: ignore[arg-type]


def sse_app(*bodies: bytes, status: int = 200) -> Any:
    """An ASGI app answering every request with these body pieces as one streamed SSE response."""

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/event-stream")]}
        )
        for body in bodies:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = (
        []
        if content is None and finish is None
        else [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]
    )
    return b"data: " + json.dumps({"choices": choices, "usage": usage}).encode() + b"\n\n"


async def test_payloads_are_read_across_pieces_and_batched_per_read() -> None:
    body = ScriptedBody(b'data: {"a": 1}\n\ndata: {"b"', b": 2}\r\n\r\n: a comment\n\ndata: [DONE]\n\n")
    assert await batches(body) == [[b'{"a": 1}'], [b'{"b": 2}', b"[DONE]"]]


async def test_a_multi_line_event_and_a_last_event_without_its_blank_line() -> None:
    body = ScriptedBody(b'data: {"a":\ndata: 1}\n\n', b'data: {"b": 2}')
    assert await batches(body) == [[b'{"a":\n1}'], [b'{"b": 2}']]


async def test_a_transport_failure_is_the_sdks_connection_error() -> None:
    body = ScriptedBody(b'data: {"a": 1}\n\n', fail_with=httpx2.RemoteProtocolError("peer closed"))
    with pytest.raises(openai.APIConnectionError):
        await batches(body)


async def test_a_read_timeout_is_the_sdks_timeout_error() -> None:
    body = ScriptedBody(fail_with=httpx2.ReadTimeout("slow"))
    with pytest.raises(openai.APITimeoutError):
        await batches(body)


def test_llm_available_follows_the_key(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    assert not llm_available()
    settings.OPENAI_API_KEY = "sk-x"
    assert llm_available()


@pytest.mark.django_db(transaction=True)
async def test_stream_yields_each_delta_and_records_reported_usage(llm: FakeOpenAI) -> None:
    user = await User.objects.acreate(username="viewer")
    stream = ChatStream(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY, user=user, temperature=0.2, max_tokens=500)

    received = await deltas(stream)
    assert "".join(received) == stream.text == REPLY
    assert_whole_tokens(received, fake_tokens(REPLY))
    assert stream.finish_reason == "stop"

    (request,) = llm.requests
    assert request.body["model"] == "fake-chat"
    assert request.body["messages"] == MESSAGES
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["temperature"] == 0.2
    assert request.body["max_completion_tokens"] == 500
    record = await UsageRecord.objects.aget()
    assert (record.user_id, record.purpose, record.model, record.status) == (
        user.pk,
        "summary",
        "fake-chat",
        "complete",
    )
    # The fake counts one token per CJK character or word: its numbers, not tiktoken's, are recorded.
    assert record.completion_tokens == len(fake_tokens(REPLY))
    assert record.prompt_tokens == len(fake_tokens("你是视频助手。这个视频讲了什么？"))
    assert not record.tokens_estimated
    assert record.attempts == 1
    assert record.time_to_first_token_ms is not None
    assert 0 <= record.time_to_first_token_ms <= record.total_ms


@pytest.mark.django_db(transaction=True)
async def test_usage_is_counted_with_tiktoken_when_the_provider_reports_none(llm: FakeOpenAI) -> None:
    llm.report_usage = False
    stream = await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT, user=AnonymousUser())

    record = await UsageRecord.objects.aget()
    assert record.tokens_estimated
    assert record.user_id is None
    assert record.completion_tokens == count_tokens(REPLY)
    assert record.prompt_tokens == estimate_prompt_tokens(MESSAGES)
    assert (
        estimate_prompt_tokens(MESSAGES)
        == count_tokens("你是视频助手。") + count_tokens("这个视频讲了什么？") + 2 * 4 + 3
    )
    assert stream.usage is not None and stream.usage.estimated


@pytest.mark.django_db(transaction=True)
async def test_429_and_503_before_the_first_token_are_retried(llm: FakeOpenAI) -> None:
    llm.failures = [429, 503]
    stream = await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)

    assert stream.text == REPLY
    assert [request.status for request in llm.requests] == [429, 503, 200]
    record = await UsageRecord.objects.aget()
    assert (record.status, record.attempts) == ("complete", 3)


@pytest.mark.django_db(transaction=True)
async def test_retry_after_is_honoured(llm: FakeOpenAI, settings: Any) -> None:
    settings.LLM_RETRY_BASE_DELAY_SECONDS = 0.0
    llm.failures, llm.retry_after = [429], 0.3
    started = time.monotonic()
    await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)
    assert time.monotonic() - started >= 0.3


@pytest.mark.django_db(transaction=True)
async def test_retries_run_out(llm: FakeOpenAI, settings: Any) -> None:
    settings.LLM_RETRY_ATTEMPTS = 2
    llm.always_fail = 429
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)

    assert caught.value.status_code == 429
    assert not caught.value.interrupted
    assert len(llm.requests) == 2
    record = await UsageRecord.objects.aget()
    assert (record.status, record.attempts, record.completion_tokens) == ("failed", 2, 0)
    assert "429" in record.error_message


@pytest.mark.parametrize("status", [400, 401, 404])
@pytest.mark.django_db(transaction=True)
async def test_client_errors_are_not_retried(llm: FakeOpenAI, status: int) -> None:
    llm.always_fail = status
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)
    assert caught.value.status_code == status
    assert not caught.value.transient
    assert len(llm.requests) == 1


@pytest.mark.django_db(transaction=True)
async def test_unreachable_server_is_retried_then_fails(settings: Any) -> None:
    settings.OPENAI_API_KEY = "test-key"
    settings.LLM_RETRY_ATTEMPTS = 2
    settings.LLM_RETRY_BASE_DELAY_SECONDS = 0.01  # OPENAI_BASE_URL is a closed local port in tests
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)
    assert caught.value.status_code is None
    assert caught.value.transient
    assert caught.value.code == "llm_failed"
    record = await UsageRecord.objects.aget()
    assert (record.status, record.attempts) == ("failed", 2)


@pytest.mark.django_db(transaction=True)
async def test_a_disconnect_mid_stream_keeps_the_partial_text_and_is_not_retried(llm: FakeOpenAI) -> None:
    llm.disconnect_after_tokens = 5
    stream = ChatStream(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)
    received: list[str] = []
    with pytest.raises(LLMError) as caught:
        async for delta in stream:
            received.append(delta)

    partial = "".join(fake_tokens(REPLY)[:5])
    assert "".join(received) == partial
    assert caught.value.interrupted
    assert caught.value.partial_text == partial
    assert len(llm.requests) == 1  # text was already handed out: a retry would repeat it
    record = await UsageRecord.objects.aget()
    assert record.status == "interrupted"
    assert record.tokens_estimated  # the usage chunk never came
    assert record.completion_tokens == count_tokens(partial)


@pytest.mark.django_db(transaction=True)
async def test_the_proxy_setting_reaches_the_sdk_client(settings: Any, fake_server: Any) -> None:
    """With OUTBOUND_PROXY set, the request goes to the proxy, addressed to the API host."""
    targets: list[str] = []

    async def proxy(scope: dict, receive: Any, send: Any) -> None:
        targets.append(scope["raw_path"].decode())
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    settings.OUTBOUND_PROXY = fake_server(proxy).url
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = "http://api.invalid/v1"  # never resolved: the proxy gets the request
    settings.LLM_RETRY_ATTEMPTS = 1
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.SUMMARY)
    assert caught.value.status_code == 502
    assert targets == ["http://api.invalid/v1/chat/completions"]
    assert await sync_to_async(UsageRecord.objects.count)() == 1


@pytest.mark.django_db(transaction=True)
async def test_chunks_arriving_together_come_out_as_one_delta(fake_server: Any, settings: Any) -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    body = chunk("红") + chunk("烧") + chunk("肉", "stop") + chunk(usage=usage) + b"data: [DONE]\n\n"
    fake_server(sse_app(body), OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    stream = ChatStream(MESSAGES, purpose=UsageRecord.Purpose.CHAT)

    assert await deltas(stream) == ["红烧肉"]
    assert stream.finish_reason == "stop"
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens, stream.usage.estimated) == (7, 3, False)


@pytest.mark.django_db(transaction=True)
async def test_the_length_finish_reason_is_kept(llm: FakeOpenAI) -> None:
    stream = await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT, max_tokens=3)
    assert stream.text == "".join(fake_tokens(REPLY)[:3])
    assert stream.finish_reason == "length"


@pytest.mark.django_db(transaction=True)
async def test_no_sdk_model_is_built_per_chunk(llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the stream was parsed into SDK models")

    monkeypatch.setattr(openai.AsyncOpenAI, "_process_response_data", refuse)
    stream = await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT)
    assert stream.text == REPLY


@pytest.mark.django_db(transaction=True)
async def test_an_error_event_mid_stream_is_an_interrupted_llm_error(fake_server: Any, settings: Any) -> None:
    error = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    fake_server(sse_app(chunk("红"), chunk("烧"), error), OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT)

    assert caught.value.code == "llm_failed"
    assert caught.value.partial_text == "红烧"
    assert "overloaded" in caught.value.message("en")
    assert (await UsageRecord.objects.aget()).status == "interrupted"


@pytest.mark.django_db(transaction=True)
async def test_an_error_event_before_any_text_is_retried(fake_server: Any, settings: Any) -> None:
    error = b'data: {"error": {"message": "overloaded"}}\n\n'
    fake_server(sse_app(error), OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    settings.LLM_RETRY_ATTEMPTS = 2
    settings.LLM_RETRY_BASE_DELAY_SECONDS = 0.0
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT)

    assert not caught.value.interrupted
    record = await UsageRecord.objects.aget()
    assert (record.status, record.attempts) == ("failed", 2)


@pytest.mark.django_db(transaction=True)
async def test_an_unreadable_chunk_is_an_llm_error(fake_server: Any, settings: Any) -> None:
    fake_server(sse_app(chunk("红"), b"data: {not json\n\n"), OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    with pytest.raises(LLMError) as caught:
        await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT)
    assert caught.value.partial_text == "红"


@pytest.mark.django_db(transaction=True)
async def test_the_request_is_sent_exactly_as_built(llm: FakeOpenAI) -> None:
    await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT)
    (request,) = llm.requests
    assert request.body == {
        "model": "fake-chat",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.django_db(transaction=True)
async def test_the_sdks_params_transform_is_not_used(llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """It walks every message through the SDK's TypedDicts, for params that are plain JSON already."""

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the params went through the SDK's transform")

    monkeypatch.setattr("openai.resources.chat.completions.completions.async_maybe_transform", refuse)
    stream = await chat_complete(MESSAGES, purpose=UsageRecord.Purpose.CHAT)
    assert stream.text == REPLY

"""core.http's requests to the OpenAI-compatible endpoint: the body sent as built, the SDK's auth and
errors, and kept-alive connections reused from one burst of requests to the next (issue 12)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from core.http import OPENAI_KEEPALIVE_SECONDS, OPENAI_MAX_CONNECTIONS, openai_post_streamed, shared_openai_client


class Recorder:
    """An ASGI endpoint that answers JSON and notes each request's body, headers and client port."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        self.seen.append({"path": scope["path"], "body": body, "headers": headers, "port": scope["client"][1]})
        reply = {"ok": True} if self.status == 200 else {"error": {"message": "no such model", "type": "x"}}
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(reply).encode()})


@pytest.fixture
def endpoint(fake_server: Any, settings: Any) -> Recorder:
    recorder = Recorder()
    fake_server(recorder, OPENAI_BASE_URL="/v1")
    settings.OPENAI_API_KEY = "test-key"
    return recorder


async def post(body: dict[str, Any]) -> bytes:
    response = await openai_post_streamed(shared_openai_client(), "/chat/completions", body)
    try:
        return await response.aread()
    finally:
        await response.aclose()


async def test_the_body_is_sent_as_built(endpoint: Recorder) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "你好"}], "stream": True}
    assert await post(body) == b'{"ok": true}'
    (seen,) = endpoint.seen
    assert (seen["path"], json.loads(seen["body"])) == ("/v1/chat/completions", body)


async def test_the_key_goes_as_bearer_auth(endpoint: Recorder) -> None:
    await post({"model": "m"})
    assert endpoint.seen[0]["headers"]["authorization"] == "Bearer test-key"


async def test_an_error_status_is_the_sdks_status_error(endpoint: Recorder) -> None:
    endpoint.status = 404
    with pytest.raises(openai.NotFoundError) as caught:
        await post({"model": "m"})
    assert (caught.value.status_code, caught.value.message) == (404, "Error code: 404 - no such model")


async def test_connections_of_a_burst_are_reused_by_the_next(endpoint: Recorder) -> None:
    await asyncio.gather(*(post({"model": "m"}) for _ in range(5)))
    first_ports = {seen["port"] for seen in endpoint.seen}
    await asyncio.gather(*(post({"model": "m"}) for _ in range(5)))
    second_ports = {seen["port"] for seen in endpoint.seen[5:]}
    assert second_ports <= first_ports


async def test_idle_connections_are_kept_for_the_keepalive_time(endpoint: Recorder) -> None:
    await post({"model": "m"})
    session = shared_openai_client()._client._transport.client  # SDK internals: its vendored aiohttp transport
    assert (session.connector.limit, session.connector._keepalive_timeout) == (
        OPENAI_MAX_CONNECTIONS,
        OPENAI_KEEPALIVE_SECONDS,
    )


def test_a_loop_s_shared_client_is_closed_when_the_loop_ends() -> None:
    async def shared() -> openai.AsyncOpenAI:
        client = shared_openai_client()
        assert not client.is_closed()
        return client

    client = asyncio.run(shared())  # as a task, a command or async_to_sync runs its loop

    assert client.is_closed()

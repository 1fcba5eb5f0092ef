"""A local stand-in for an OpenAI-compatible API: `/v1/embeddings` and `/v1/chat/completions`.

    fake = FakeOpenAI(reply=lambda body: "你好", failures=[429, 429], token_delay=0.05)
    fake_server(fake.app, OPENAI_BASE_URL="/v1")
    ...
    assert fake.requests[-1].body["stream"] is True

- `failures` lists statuses answered, in order, before any real reply (429-then-success, and so
  on); `always_fail` answers every request with one status.
- `reply` is the assistant's text, or a callable that gets the request JSON and returns it.
- Streaming replies use the real SSE wire format: one `data: {…chat.completion.chunk…}` event
  per token (every `token_delay` seconds), a final chunk with finish_reason "stop" (or "length"),
  a usage chunk with empty choices when `stream_options.include_usage` is true, then
  `data: [DONE]`. `disconnect_after_tokens=K` drops the connection after K tokens instead,
  a moment after the last one (a client's HTTP stack may drop bytes that came with the loss).
  `report_usage=False` never sends usage, as some OpenAI-compatible servers ignore `stream_options`.
- Embeddings are deterministic in the text (`fake_embedding`), honour `dimensions` and
  `encoding_format`; `reject_dimensions` answers 400 to `dimensions` as ada-002 does,
  `reverse_embeddings` returns the data in reverse order and `drop_embeddings` leaves the last one out.
- Every request is recorded in `requests` (path, JSON body, status answered); `max_in_flight`
  is the most embeddings requests or chat streams served at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import random
import re
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CREATED = 1_700_000_000
_TOKEN = re.compile(r"[A-Za-z0-9]+\s*|\s+|.", re.DOTALL)


def fake_tokens(text: str) -> list[str]:
    """How the fake splits text into tokens: a CJK character, a word with its trailing space, a sign."""
    return _TOKEN.findall(text)


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """The unit vector the fake returns for `text` (deterministic; seeded by the text's hash)."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


class FakeDisconnect(Exception):
    """Raised inside a streaming reply to drop the connection mid-stream."""


class _QuietFakeDisconnects(logging.Filter):
    """uvicorn logs an exception that ends a response; a scripted disconnect is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], FakeDisconnect))


logging.getLogger("uvicorn.error").addFilter(_QuietFakeDisconnects())


DISCONNECT_PAUSE = 0.05  # seconds between the last token and a dropped connection


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeOpenAI:
    reply: str | Callable[[dict[str, Any]], str] = "你好！这是一个测试回复。"
    token_delay: float = 0.0
    failures: list[int] = field(default_factory=list)
    always_fail: int | None = None
    retry_after: float | None = None  # sent as Retry-After on 429
    disconnect_after_tokens: int | None = None
    report_usage: bool = True
    api_key: str = ""  # the expected Bearer token; "" accepts any
    embedding_dimensions: int = 1536  # the "native" size when `dimensions` is not sent
    embedding_delay: float = 0.0
    reject_dimensions: bool = False
    reverse_embeddings: bool = False
    drop_embeddings: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    completed_streams: int = 0  # streams that reached [DONE] (a cancelled one never does)
    # Structured output: the reply to a request with `response_format` (text or a callable of the
    # request JSON); None answers it with `reply` like any other.
    json_reply: str | Callable[[dict[str, Any]], str] | None = None
    # Per-request token delay (a callable of the request JSON), instead of `token_delay`.
    token_delay_for: Callable[[dict[str, Any]], float] | None = None

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            ]
        )

    # --- What tests look at ---------------------------------------------------------------

    def answered(self, path: str, status: int = 200) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path and request.status == status]

    @property
    def text_requests(self) -> list[RecordedRequest]:
        """The chat completions asked for text, leaving out those asking for structured output
        (`response_format`: a short summary's chapters)."""
        return [r for r in self.requests if r.path == "/v1/chat/completions" and "response_format" not in r.body]

    @property
    def embedded_inputs(self) -> list[str]:
        """Every input of every embeddings request answered with 200, in arrival order."""
        return [text for request in self.answered("/v1/embeddings") for text in _as_list(request.body["input"])]

    # --- Shared ---------------------------------------------------------------------------

    async def _start(self, request: Request) -> tuple[RecordedRequest, Response | None]:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        recorded = RecordedRequest(path=request.url.path, body=body, headers=dict(request.headers))
        self.requests.append(recorded)
        status = self._scripted_failure(request)
        if status is not None:
            recorded.status = status
            return recorded, self._failure_response(status)
        if not isinstance(body, dict):
            recorded.status = 400
            return recorded, _error(400, "We could not parse the JSON body of your request.")
        return recorded, None

    def _scripted_failure(self, request: Request) -> int | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401
        if self.always_fail is not None:
            return self.always_fail
        return self.failures.pop(0) if self.failures else None

    def _failure_response(self, status: int) -> Response:
        headers = {"retry-after": str(self.retry_after)} if status == 429 and self.retry_after is not None else None
        kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
        return _error(status, f"fake failure {status}", kind, headers=headers)

    # --- Embeddings -----------------------------------------------------------------------

    async def embeddings(self, request: Request) -> Response:
        recorded, failure = await self._start(request)
        if failure is not None:
            return failure
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.embedding_delay)
            response = self._embeddings_response(recorded.body)
        finally:
            self.in_flight -= 1
        recorded.status = response.status_code
        return response

    def _embeddings_response(self, body: dict[str, Any]) -> Response:
        inputs = _as_list(body.get("input"))
        if not inputs or not all(isinstance(text, str) and text for text in inputs):
            return _error(400, "'input' must be a non-empty string or array of non-empty strings", param="input")
        if "dimensions" in body and self.reject_dimensions:
            return _error(400, "This model does not support specifying dimensions.", param="dimensions")
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        data = [
            {"object": "embedding", "index": index, "embedding": _encoded(fake_embedding(text, dimensions), body)}
            for index, text in enumerate(inputs)
        ]
        if self.reverse_embeddings:
            data.reverse()
        if self.drop_embeddings:
            data.pop()
        tokens = sum(len(fake_tokens(text)) for text in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # --- Chat completions -----------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        recorded, failure = await self._start(request)
        if failure is not None:
            return failure
        body = recorded.body
        reply = self.json_reply if self.json_reply is not None and body.get("response_format") else self.reply
        text = reply(body) if callable(reply) else reply
        tokens = fake_tokens(text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "length" if limit is not None and len(tokens) > limit else "stop"
        tokens = tokens[:limit] if limit is not None else tokens
        usage = _usage(body, len(tokens))
        completion_id = f"chatcmpl-fake-{len(self.requests)}"
        if body.get("stream"):
            include_usage = self.report_usage and bool((body.get("stream_options") or {}).get("include_usage"))
            events = self._events(completion_id, body, tokens, finish_reason, usage if include_usage else None)
            return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
            }
        )

    async def _events(
        self,
        completion_id: str,
        body: dict[str, Any],
        tokens: list[str],
        finish_reason: str,
        usage: dict[str, int] | None,
    ) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> bytes:
            event: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": body.get("model", ""),
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if usage is not None:
                event["usage"] = usage if delta is None else None
            return _sse(event)

        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield chunk({"role": "assistant", "content": ""})
            for number, token in enumerate(tokens):
                if self.disconnect_after_tokens is not None and number >= self.disconnect_after_tokens:
                    await asyncio.sleep(max(self.token_delay, DISCONNECT_PAUSE))  # dropped while the next is awaited
                    raise FakeDisconnect(f"dropped the stream after {number} tokens")
                await asyncio.sleep(self.token_delay if self.token_delay_for is None else self.token_delay_for(body))
                yield chunk({"content": token})
            yield chunk({}, finish_reason)
            if usage is not None:
                yield chunk(None)
            yield b"data: [DONE]\n\n"
            self.completed_streams += 1
        finally:
            self.in_flight -= 1


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _encoded(vector: list[float], body: dict[str, Any]) -> list[float] | str:
    if body.get("encoding_format") == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def _usage(body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
    prompt_tokens = sum(len(fake_tokens(_content_text(message.get("content")))) for message in body.get("messages", []))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": None}}, status_code=status, headers=headers
    )

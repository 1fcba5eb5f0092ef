"""The one LLM client: streamed chat completions from any OpenAI-compatible endpoint.

    stream = ChatStream(messages, purpose=UsageRecord.Purpose.SUMMARY, user=request.user)
    async for delta in stream:
        ...                      # text deltas, as they arrive
    stream.text, stream.usage    # the whole reply and what it cost

The SDK authenticates and sends the request as built here (`core.http.openai_post_streamed`, no
params transform); the streamed body is read raw (`sse_payloads`, parsed with jiter), without an
SDK model object per chunk, and what one network read brings comes out as one delta. The client
is the event loop's kept-alive one (`core.http.shared_openai_client()`: base URL, key, timeout,
OUTBOUND_PROXY through the SDK's own `http_client`); a caller may pass one it opened itself as
`client=` and close it after.
429, 408/409, 5xx, timeouts and connection errors are retried (core.http.with_retries, with
LLM_RETRY_ATTEMPTS and the server's Retry-After), but only before the first token: once text
has been handed out, a failure raises `LLMError` (code llm_failed) carrying the partial text
(`interrupted`). The SDK's aiohttp transport (core.http) raises a lost connection before it hands
out bytes that arrived since the last read, so text that came just before a dropped connection
may be missing from the partial text (what was handed out and saved always agree).

Every call, finished or not, writes a `UsageRecord` (chat.services.usage): user, purpose,
model, prompt and completion tokens (the provider's, or counted with tiktoken when it reports
none), time to first token and total time.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import Any

import anyio
import httpx2
import jiter
import openai
from asgiref.sync import sync_to_async
from django.conf import settings

from chat.errors import LLM_FAILED
from chat.models import UsageRecord
from chat.services.usage import LLMUsage, usage_record_create
from core import metrics
from core.errors import AppError
from core.http import RetryPolicy, openai_post_streamed, retry_after_seconds, shared_openai_client, with_retries
from core.tokens import count_tokens

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = frozenset({408, 409, 429})
MAX_RETRY_DELAY_SECONDS = 30.0
# Tokens a chat message costs beyond its content (role and separators), as OpenAI counts them.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3

Message = dict[str, str]
DONE_PAYLOAD = b"[DONE]"


# What offline mode (no API key) labels its extractive output with.
OFFLINE_MODEL = "offline-extractive"
OFFLINE_VERSION = "offline-v1"


def llm_available() -> bool:
    """Whether an LLM is configured; without an API key ChatBili runs in offline mode."""
    return bool(settings.OPENAI_API_KEY)


def chat_model() -> str:
    return settings.CHAT_MODEL


class LLMError(AppError):
    """An LLM call failed (code `llm_failed`). `partial_text` is what was streamed before it did.

    `transient` says whether trying again at once may help (429, 408/409, 5xx, timeouts, lost
    connections); `server_delay` is the wait the server asked for (Retry-After), in seconds.
    """

    def __init__(
        self,
        reason: str,
        *,
        partial_text: str = "",
        status_code: int | None = None,
        transient: bool = False,
        server_delay: float | None = None,
    ) -> None:
        super().__init__(LLM_FAILED, reason=reason)
        self.partial_text = partial_text
        self.status_code = status_code
        self.transient = transient
        self.server_delay = server_delay

    @property
    def interrupted(self) -> bool:
        """True when the failure came mid-stream, after some text was handed out."""
        return bool(self.partial_text)


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """Prompt tokens as OpenAI counts them, with the offline cl100k encoding."""
    content = sum(count_tokens(message.get("content", "")) for message in messages)
    return content + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_REPLY


class ChatStream:
    """One streamed chat completion: iterate it once for text deltas; then read `text`, `usage`."""

    def __init__(
        self,
        messages: Sequence[Message],
        *,
        purpose: str,
        user: Any = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.messages = list(messages)
        self.client = client
        self.purpose = purpose
        self.user_id = user_id_of(user)
        self.model = model or chat_model()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.text = ""
        self.usage: LLMUsage | None = None
        self.finish_reason: str | None = None
        self._deferred_error: LLMError | None = None
        self._reported: dict[str, int] | None = None
        self._attempts = 0
        self._started = 0.0
        self._first_token_at: float | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        self._started = time.monotonic()
        status, error_text = UsageRecord.Status.FAILED, ""
        try:
            async for delta in self._stream_with_retries():
                yield delta
            status = UsageRecord.Status.COMPLETE
        except LLMError as exc:
            error_text = exc.message("en")
            status = UsageRecord.Status.INTERRUPTED if exc.interrupted else UsageRecord.Status.FAILED
            raise
        except BaseException as exc:  # cancelled, or the caller stopped reading
            error_text = f"stopped: {type(exc).__name__}"
            status = UsageRecord.Status.INTERRUPTED if self.text else UsageRecord.Status.FAILED
            raise
        finally:
            self.usage = self._measured_usage()
            await self._record(status, error_text)

    async def _stream_with_retries(self) -> AsyncIterator[str]:
        """The deltas of one call; a failure before the first text is tried again, one after is not."""
        client = self.client or shared_openai_client()
        response, batches, first = await with_retries(
            lambda: self._open(client),
            policy=_retry_policy(),
            is_retryable=_worth_retrying,
            server_delay=lambda exc: getattr(exc, "server_delay", None),
            what="LLM call",
        )
        try:
            if first:
                yield first
            self._raise_deferred()
            with self._as_llm_error():
                async for payloads in batches:
                    if delta := self._take(payloads):
                        yield delta
                    self._raise_deferred()
        finally:
            await batches.aclose()
            await response.aclose()

    async def _open(self, client: openai.AsyncOpenAI) -> tuple[httpx2.Response, AsyncGenerator[list[bytes]], str]:
        """Start one attempt and read up to its first text, so that a failure before it can be retried.

        The SDK authenticates and sends the request as we built it (`openai_post_streamed`: no
        params transform); the body is read raw (no model object per chunk): see `sse_payloads`.
        """
        self._attempts += 1
        with self._as_llm_error():
            response = await openai_post_streamed(client, "/chat/completions", self._request())
            batches = sse_payloads(response)
            try:
                async for payloads in batches:
                    if first := self._take(payloads):
                        return response, batches, first
            except BaseException:
                await batches.aclose()
                await response.aclose()
                raise
        return response, batches, ""

    @contextlib.contextmanager
    def _as_llm_error(self) -> Iterator[None]:
        """The SDK's errors as `LLMError`s carrying the text so far."""
        try:
            yield
        except openai.APIStatusError as exc:
            raise self._error(exc, exc.status_code) from exc
        except (openai.APIConnectionError, openai.APIResponseValidationError) as exc:
            raise self._error(exc, None) from exc

    def _request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            request["max_completion_tokens"] = self.max_tokens
        return request

    def _take(self, payloads: list[bytes]) -> str:
        """Note usage and finish reason of a batch of chunks; return their text deltas joined."""
        texts = []
        for payload in payloads:
            if payload == DONE_PAYLOAD:
                continue
            try:
                chunk = self._chunk(payload)
            except LLMError as exc:
                if not texts:
                    raise
                self._deferred_error = exc  # raised once the text before it is handed out
                break
            if usage := chunk.get("usage"):
                self._reported = {
                    "prompt_tokens": usage.get("prompt_tokens") or 0,
                    "completion_tokens": usage.get("completion_tokens") or 0,
                }
            if choices := chunk.get("choices"):
                choice = choices[0]
                self.finish_reason = choice.get("finish_reason") or self.finish_reason
                if delta := (choice.get("delta") or {}).get("content"):
                    texts.append(delta)
        if not texts:
            return ""
        if self._first_token_at is None:
            self._first_token_at = time.monotonic()
        text = "".join(texts)
        self.text += text
        return text

    def _raise_deferred(self) -> None:
        """An error event that came in one read after some text: raise it now, carrying that text."""
        if (error := self._deferred_error) is not None:
            self._deferred_error = None
            error.partial_text = self.text
            raise error

    def _chunk(self, payload: bytes) -> dict[str, Any]:
        """One `data:` payload as a dict; an error event or unreadable JSON is an LLMError."""
        try:
            chunk = jiter.from_json(payload)
        except ValueError as exc:
            raise LLMError(f"unreadable stream chunk: {exc}", partial_text=self.text, transient=True) from exc
        if not isinstance(chunk, dict):
            raise LLMError("unreadable stream chunk: not an object", partial_text=self.text, transient=True)
        if error := chunk.get("error"):
            message = error.get("message") if isinstance(error, dict) else None
            raise LLMError(message or "an error occurred during streaming", partial_text=self.text, transient=True)
        return chunk

    def _error(self, exc: Exception, status_code: int | None) -> LLMError:
        transient = status_code is None or status_code in RETRYABLE_STATUS_CODES or status_code >= 500
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return LLMError(
            f"HTTP {status_code}: {detail}" if status_code else detail,
            partial_text=self.text,
            status_code=status_code,
            transient=transient,
            server_delay=retry_after_seconds(getattr(getattr(exc, "response", None), "headers", None)),
        )

    def _measured_usage(self) -> LLMUsage:
        first = None if self._first_token_at is None else round((self._first_token_at - self._started) * 1000)
        total = round((time.monotonic() - self._started) * 1000)
        if self._reported is not None:
            prompt, completion, estimated = self._reported["prompt_tokens"], self._reported["completion_tokens"], False
        else:
            prompt, completion, estimated = estimate_prompt_tokens(self.messages), count_tokens(self.text), True
        return LLMUsage(prompt, completion, estimated, first, total, attempts=max(1, self._attempts))

    async def _record(self, status: str, error_text: str) -> None:
        assert self.usage is not None
        usage, error = self.usage, metrics.llm_error_kind(error_text) if error_text else ""
        metrics.llm_call_record(  # Prometheus (core.metrics): calls, tokens, errors by kind
            purpose=str(self.purpose), model=self.model, status=str(status), prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, seconds=usage.total_ms / 1000, error=error,
        )  # fmt: skip
        try:
            await sync_to_async(usage_record_create)(
                user_id=self.user_id,
                purpose=self.purpose,
                model=self.model,
                usage=self.usage,
                status=status,
                error_text=error_text,
            )
        except Exception:
            logger.exception("could not record LLM usage (%s, %s)", self.purpose, self.model)


async def sse_payloads(response: httpx2.Response) -> AsyncGenerator[list[bytes]]:
    """The `data` of each server-sent event of a streamed body, a batch per network read.

    Everything one read brings is handed on at once: when the loop falls behind, chunks that
    queued up meanwhile become one delta (and one frame further on) instead of many. Transport
    failures are the SDK's `APIConnectionError`/`APITimeoutError`, as its own stream raises them.
    """
    pending, data_lines = b"", []
    try:
        async for received in response.aiter_bytes():
            *lines, pending = (pending + received).split(b"\n")
            payloads = []
            for line in lines:
                if line.startswith(b"data:"):
                    data_lines.append(line[5:].strip())
                elif not line.strip() and data_lines:  # a blank line ends the event
                    payloads.append(b"\n".join(data_lines))
                    data_lines = []
            if payloads:
                yield payloads
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as exc:
        raise openai.APIConnectionError(request=response.request) from exc
    if pending.startswith(b"data:"):  # the body ended inside its last line
        data_lines.append(pending[5:].strip())
    if data_lines:  # or without the blank line after its last event
        yield [b"\n".join(data_lines)]


async def chat_complete(messages: Sequence[Message], *, purpose: str, user: Any = None, **options: Any) -> ChatStream:
    """Run a chat completion to its end (still streamed, so usage and timings are the same)."""
    stream = ChatStream(messages, purpose=purpose, user=user, **options)
    async for _ in stream:
        pass
    return stream


def user_id_of(user: Any) -> int | None:
    """The id of a signed-in user; None for None, AnonymousUser or a bare id of None."""
    if user is None or isinstance(user, int):
        return user
    return user.pk if getattr(user, "is_authenticated", False) else None


def _retry_policy() -> RetryPolicy:
    """LLM_RETRY_ATTEMPTS tries, backing off from LLM_RETRY_BASE_DELAY_SECONDS (or Retry-After)."""
    return RetryPolicy(
        attempts=max(1, settings.LLM_RETRY_ATTEMPTS),
        base_delay=float(settings.LLM_RETRY_BASE_DELAY_SECONDS),
        max_delay=MAX_RETRY_DELAY_SECONDS,
    )


def _worth_retrying(exc: Exception) -> bool:
    return isinstance(exc, LLMError) and exc.transient and not exc.interrupted

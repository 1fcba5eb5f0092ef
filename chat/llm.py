"""The one LLM client: streamed chat completions from any OpenAI-compatible endpoint.

    stream = ChatStream(messages, purpose=UsageRecord.Purpose.SUMMARY, user=request.user)
    async for delta in stream:
        ...                      # text deltas, as they arrive
    stream.text, stream.usage    # the whole reply and what it cost

The client comes from `core.http.openai_client()` (base URL, key, timeout, OUTBOUND_PROXY
through the SDK's own `http_client`), one per call; a caller that makes several calls in a row
(a map-reduce summary) may pass one it opened itself as `client=` and close it after.
429, 408/409, 5xx, timeouts and connection errors are retried LLM_RETRY_ATTEMPTS times, but
only before the first token: once text has been handed out, a failure raises `LLMError`
carrying the partial text (`interrupted`).

Every call, finished or not, writes a `UsageRecord`: user, purpose, model, prompt and
completion tokens (the provider's, or counted with tiktoken when it reports none), time to
first token and total time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from django.conf import settings

from chat.models import UsageRecord
from core.http import openai_client, retry_after_seconds
from core.tokens import count_tokens

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = frozenset({408, 409, 429})
MAX_RETRY_DELAY_SECONDS = 30.0
# Tokens a chat message costs beyond its content (role and separators), as OpenAI counts them.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3

Message = dict[str, str]


# What offline mode (no API key) labels its extractive output with.
OFFLINE_MODEL = "offline-extractive"
OFFLINE_VERSION = "offline-v1"


def llm_available() -> bool:
    """Whether an LLM is configured; without an API key ChatBili runs in offline mode."""
    return bool(settings.OPENAI_API_KEY)


def chat_model() -> str:
    return settings.CHAT_MODEL


class GenerationError(Exception):
    """Something generated could not be made. Messages are user-facing, in Chinese and English."""

    def __init__(self, code: str, message_zh: str, message_en: str = "") -> None:
        super().__init__(message_zh if not message_en or message_en == message_zh else f"{message_zh} / {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en or message_zh

    @property
    def message(self) -> str:
        return str(self)


class LLMError(GenerationError):
    """An LLM call failed. `partial_text` is what was streamed before it did (maybe "")."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "llm_failed",
        partial_text: str = "",
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.partial_text = partial_text
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after  # seconds, from the server's Retry-After

    @property
    def interrupted(self) -> bool:
        """True when the failure came mid-stream, after some text was handed out."""
        return bool(self.partial_text)


@dataclass
class LLMUsage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool  # counted with tiktoken: the provider reported no usage
    first_token_ms: int | None
    total_ms: int
    attempts: int = 1

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


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
        self._reported: dict[str, int] | None = None
        self._attempts = 0
        self._started = 0.0
        self._first_token_at: float | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        self._started = time.monotonic()
        status, error_message = UsageRecord.Status.FAILED, ""
        try:
            async for delta in self._stream_with_retries():
                yield delta
            status = UsageRecord.Status.COMPLETE
        except LLMError as exc:
            error_message = exc.message
            status = UsageRecord.Status.INTERRUPTED if exc.interrupted else UsageRecord.Status.FAILED
            raise
        except BaseException as exc:  # cancelled, or the caller stopped reading
            error_message = f"stopped: {type(exc).__name__}"
            status = UsageRecord.Status.INTERRUPTED if self.text else UsageRecord.Status.FAILED
            raise
        finally:
            self.usage = self._measured_usage()
            await self._record(status, error_message)

    async def _stream_with_retries(self) -> AsyncIterator[str]:
        attempts = max(1, settings.LLM_RETRY_ATTEMPTS)
        while True:
            self._attempts += 1
            try:
                async for delta in self._stream_once():
                    yield delta
                return
            except LLMError as exc:
                if exc.interrupted or not exc.retryable or self._attempts >= attempts:
                    raise
                delay = _retry_delay(self._attempts, exc)
                logger.warning("LLM call failed (%s); retry %d/%d in %.1fs", exc, self._attempts, attempts - 1, delay)
                await asyncio.sleep(delay)

    async def _stream_once(self) -> AsyncIterator[str]:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = self.client or await stack.enter_async_context(openai_client())
                stream = await client.chat.completions.create(**self._request())
                async with stream:
                    async for chunk in stream:
                        delta = self._take(chunk)
                        if delta:
                            yield delta
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

    def _take(self, chunk: Any) -> str:
        """Note usage and finish reason of one chunk; return its text delta."""
        if getattr(chunk, "usage", None) is not None:
            self._reported = {
                "prompt_tokens": chunk.usage.prompt_tokens or 0,
                "completion_tokens": chunk.usage.completion_tokens or 0,
            }
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        self.finish_reason = choice.finish_reason or self.finish_reason
        delta = (choice.delta.content if choice.delta else None) or ""
        if delta:
            if self._first_token_at is None:
                self._first_token_at = time.monotonic()
            self.text += delta
        return delta

    def _error(self, exc: Exception, status_code: int | None) -> LLMError:
        retryable = status_code is None or status_code in RETRYABLE_STATUS_CODES or status_code >= 500
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        reason = f"HTTP {status_code}: {detail}" if status_code else detail
        return LLMError(
            f"LLM request failed: {reason}",
            partial_text=self.text,
            status_code=status_code,
            retryable=retryable,
            retry_after=retry_after_seconds(getattr(getattr(exc, "response", None), "headers", None)),
        )

    def _measured_usage(self) -> LLMUsage:
        first = None if self._first_token_at is None else round((self._first_token_at - self._started) * 1000)
        total = round((time.monotonic() - self._started) * 1000)
        if self._reported is not None:
            prompt, completion, estimated = self._reported["prompt_tokens"], self._reported["completion_tokens"], False
        else:
            prompt, completion, estimated = estimate_prompt_tokens(self.messages), count_tokens(self.text), True
        return LLMUsage(prompt, completion, estimated, first, total, attempts=max(1, self._attempts))

    async def _record(self, status: str, error_message: str) -> None:
        usage = self.usage
        assert usage is not None
        try:
            await UsageRecord.objects.acreate(
                user_id=self.user_id,
                purpose=self.purpose,
                model=self.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                tokens_estimated=usage.estimated,
                time_to_first_token_ms=usage.first_token_ms,
                total_ms=usage.total_ms,
                attempts=usage.attempts,
                status=status,
                error_message=error_message[:2000],
            )
        except Exception:
            logger.exception("could not record LLM usage (%s, %s)", self.purpose, self.model)


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


def _retry_delay(attempt: int, error: LLMError) -> float:
    """Exponential backoff from LLM_RETRY_BASE_DELAY_SECONDS, or the server's Retry-After."""
    delay = settings.LLM_RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1)
    if error.retry_after is not None:
        delay = error.retry_after
    return min(delay, MAX_RETRY_DELAY_SECONDS)

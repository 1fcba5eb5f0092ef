"""The one place outgoing HTTP clients are made (timeouts, User-Agent, OUTBOUND_PROXY), and the
one retry policy for calls to outside services (Bilibili, bcut, the LLM and embedding API)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import certifi
import httpx
import httpx2
import openai
from django.conf import settings

logger = logging.getLogger(__name__)

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)

# A kept-alive connection to the endpoint is reused for this long after its last request: less than
# the 5 s after which uvicorn-based servers (vLLM, ...) close an idle one, else a request sent as the
# server closes it fails (aiohttp reports that as a timeout) and waits a retry's backoff. 30 s did that.
OPENAI_KEEPALIVE_SECONDS = 4.0
# Connections at once; HTTP/1.1 streams one reply per connection (the SDK's default, 1000).
OPENAI_MAX_CONNECTIONS = 1000


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle (~6 ms of CPU each)."""
    return ssl.create_default_context(cafile=certifi.where())


def outbound_client(*, timeout: float = 20.0, **kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient that goes through OUTBOUND_PROXY when one is set (and ignores proxy env vars)."""
    kwargs.setdefault("headers", {"User-Agent": BROWSER_USER_AGENT})
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        proxy=settings.OUTBOUND_PROXY or None,
        trust_env=False,
        verify=tls_context(),
        **kwargs,
    )


def openai_client(*, timeout: float | None = None, max_retries: int = 0) -> openai.AsyncOpenAI:
    """An AsyncOpenAI client for the configured OpenAI-compatible endpoint (chat and embeddings).

    Make one per call or per connection: a client is bound to the event loop that first used it.
    The SDK sends through its aiohttp transport (`openai[aiohttp]`): reading a streamed reply
    costs about half the CPU of its default httpx2 stack (issue 12). The proxy goes through its
    `http_client` option, with proxy environment variables ignored like every other outgoing
    client. Retries are the caller's, so the SDK's are off by default.
    """
    http_client = openai.DefaultAioHttpClient(
        proxy=settings.OUTBOUND_PROXY or None,
        trust_env=False,
        verify=tls_context(),
        limits=httpx2.Limits(max_connections=OPENAI_MAX_CONNECTIONS, keepalive_expiry=OPENAI_KEEPALIVE_SECONDS),
    )
    return openai.AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY or "offline",
        base_url=settings.OPENAI_BASE_URL,
        timeout=timeout or settings.LLM_TIMEOUT_SECONDS,
        max_retries=max_retries,
        http_client=http_client,
    )


async def openai_post_streamed(client: openai.AsyncOpenAI, path: str, body: dict[str, Any]) -> httpx2.Response:
    """POST `body`, plain JSON we built, to `path` of the endpoint; the response with its body unread.

    The SDK's documented way to call any endpoint (`client.post(..., cast_to=httpx2.Response)`):
    base URL, auth, timeouts and error statuses (APIStatusError, read in full) stay the SDK's, but
    the per-method params transform is skipped (it walks every message through TypedDict
    annotations, ~5 % of the loop at 200 asks, to rename aliased keys our params do not have). The
    idempotency key is ours: the SDK makes a uuid4 per request for a header the OpenAI client does
    not send. The caller closes the response (`aclose`).
    """
    options: Any = {"security": {"bearer_auth": True}, "idempotency_key": _next_idempotency_key()}
    return await client.post(path, cast_to=httpx2.Response, body=body, options=options, stream=True)


_idempotency_prefix = f"chatbili-{uuid.uuid4().hex}-"
_idempotency_numbers = itertools.count()


def _next_idempotency_key() -> str:
    return f"{_idempotency_prefix}{next(_idempotency_numbers)}"


_loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def shared_openai_client() -> openai.AsyncOpenAI:
    """The kept-alive client of the running event loop for the current settings (never close it).

    A server process answers many short calls on one loop: sharing a client keeps its connections
    to the endpoint open and skips building a client per call. A new loop (a task, a test) or
    changed settings get a client of their own, closed when its loop ends (`_closed_with_loop`).
    """
    loop = asyncio.get_running_loop()
    key = (settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.OUTBOUND_PROXY, settings.LLM_TIMEOUT_SECONDS)
    clients = _loop_clients.setdefault(loop, {})
    client = clients.get(key)
    if client is None or client.is_closed():
        client = clients[key] = openai_client()
        task = loop.create_task(_closed_with_loop(client), name="close the shared OpenAI client")
        _client_closers.add(task)
        task.add_done_callback(_client_closers.discard)
    return client


_client_closers: set[asyncio.Task] = set()  # the loop keeps only weak references to its tasks


async def _closed_with_loop(client: openai.AsyncOpenAI) -> None:
    """Wait until cancelled, then close `client` and its kept-alive connections: asyncio.run (a
    task's, a command's, asgiref's async_to_sync) cancels what is still pending before it closes the
    loop. Without it each such loop left an unclosed client behind ("Unclosed connector" at exit)."""
    try:
        await asyncio.Future()
    finally:
        await client.close()


def retry_after_seconds(headers: object) -> float | None:
    """The server's requested wait from `retry-after-ms` or `retry-after` (seconds), if any."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(get(name)) * scale)
        except (TypeError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try a call to an outside service, and how long to wait in between."""

    attempts: int  # tries in all (at least one)
    base_delay: float  # seconds before the second try; doubled before each further one
    max_delay: float = 30.0

    def delay(self, attempt: int, server_delay: float | None = None) -> float:
        """The wait after failed try number `attempt` (from 1): the server's wish, else backoff."""
        if server_delay is not None:
            return max(0.0, min(server_delay, self.max_delay))
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)


def _no_server_delay(exc: Exception) -> float | None:
    return None


async def with_retries[T](
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    is_retryable: Callable[[Exception], bool],
    server_delay: Callable[[Exception], float | None] = _no_server_delay,
    what: str = "request",
) -> T:
    """Await `call()`, trying again on retryable failures; the last failure is raised as it is."""
    attempts = max(1, policy.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            if attempt >= attempts or not is_retryable(exc):
                raise
            delay = policy.delay(attempt, server_delay(exc))
            logger.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt, attempts - 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")

"""The one place outgoing HTTP clients are made: timeouts, User-Agent and OUTBOUND_PROXY."""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import certifi
import httpx
import openai
from django.conf import settings

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)


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
    The SDK has its own HTTP stack (httpx2); the proxy goes through its `http_client` option,
    with proxy environment variables ignored like every other outgoing client. Retries are the
    caller's, so the SDK's are off by default.
    """
    http_client = openai.DefaultAsyncHttpxClient(
        proxy=settings.OUTBOUND_PROXY or None, trust_env=False, verify=tls_context()
    )
    return openai.AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY or "offline",
        base_url=settings.OPENAI_BASE_URL,
        timeout=timeout or settings.LLM_TIMEOUT_SECONDS,
        max_retries=max_retries,
        http_client=http_client,
    )


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

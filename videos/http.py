"""The one place outgoing HTTP clients are made: timeouts, User-Agent and OUTBOUND_PROXY."""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)


def outbound_client(*, timeout: float = 20.0, **kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient that goes through OUTBOUND_PROXY when one is set (and ignores proxy env vars)."""
    kwargs.setdefault("headers", {"User-Agent": BROWSER_USER_AGENT})
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        proxy=settings.OUTBOUND_PROXY or None,
        trust_env=False,
        **kwargs,
    )

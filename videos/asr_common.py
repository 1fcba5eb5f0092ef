"""What the two ASR clients (videos.asr_bcut, the OpenAI-compatible one in videos.asr) share:
requests with retries on 429/5xx, upload names, cue helpers."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import httpx
from django.conf import settings

from core.errors import AppError
from core.http import RetryPolicy, retry_after_seconds, with_retries
from videos.errors import ASR_FAILED, ASR_TIMEOUT, ASR_UNREACHABLE
from videos.types import Cue

# Extensions bcut accepts as `resource_file_type` (docs §9); the OpenAI API accepts them too.
AUDIO_TYPES = {
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
}
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0


def asr_error(detail: str) -> AppError:
    """A failure of the service that trying again later may fix; `detail` says what failed."""
    return AppError(ASR_FAILED, detail=detail)


class _RetryableResponse(Exception):
    """A reply with a status worth retrying (429, 5xx …); the last one is returned as it is."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def upload_name(filename: str) -> tuple[str, str]:
    """(name to upload, audio type). DASH `.m4s` audio is fragmented MP4/AAC, so it goes up as m4a."""
    path = PurePath(filename or "audio.m4a")
    audio_type = path.suffix.lower().lstrip(".")
    if audio_type not in AUDIO_TYPES:
        audio_type = "m4a"
    return f"{path.stem or 'audio'}.{audio_type}", audio_type


def request_timeout() -> float:
    return float(settings.ASR_TIMEOUT_SECONDS)


def retry_policy() -> RetryPolicy:
    """ASR_RETRY_ATTEMPTS tries, backoff from ASR_RETRY_BASE_DELAY_SECONDS, Retry-After up to 30 s."""
    return RetryPolicy(
        attempts=max(1, int(settings.ASR_RETRY_ATTEMPTS)),
        base_delay=float(settings.ASR_RETRY_BASE_DELAY_SECONDS),
        max_delay=MAX_RETRY_AFTER_SECONDS,
    )


def _server_delay(exc: Exception) -> float | None:
    return retry_after_seconds(exc.response.headers) if isinstance(exc, _RetryableResponse) else None


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, retried on connection errors, 429 and 5xx. The last retryable response is returned."""

    async def request_once() -> httpx.Response:
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.ReadTimeout as exc:
            # The server may still be working: do not pay for the upload twice.
            raise AppError(ASR_TIMEOUT) from exc
        if response.status_code in RETRY_STATUSES:
            raise _RetryableResponse(response)
        return response

    try:
        return await with_retries(
            request_once,
            policy=retry_policy(),
            is_retryable=lambda exc: isinstance(exc, _RetryableResponse | httpx.TransportError),
            server_delay=_server_delay,
            what=f"ASR {method} {url}",
        )
    except _RetryableResponse as exc:
        return exc.response
    except httpx.TransportError as exc:
        raise AppError(ASR_UNREACHABLE, details={"reason": str(exc)[:200]}) from exc


def json_body(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise asr_error(f"{service}: a body that is not JSON (HTTP {response.status_code})") from exc


def make_cue(start_ms: int, end_ms: int, text: str) -> Cue | None:
    text = text.strip()
    if not text:
        return None
    start_ms = max(0, start_ms)
    return Cue(start_ms=start_ms, end_ms=max(start_ms, end_ms), text=text)


def sorted_cues(cues: list[Cue | None]) -> list[Cue]:
    return sorted((cue for cue in cues if cue is not None), key=lambda cue: (cue.start_ms, cue.end_ms))

"""Speech recognition for videos without subtitles: bcut (必剪) or an OpenAI-compatible endpoint.

`transcribe_audio` is the one entry point; `settings.ASR_BACKEND` picks the service. Audio bytes are
uploaded as they are (m4a / DASH m4s / mp3 …), so no ffmpeg is needed on the host.

The OpenAI-compatible backend uses plain httpx through `outbound_client` rather than the `openai`
SDK: the SDK runs on its own http stack (httpx2), so it could not share our client, OUTBOUND_PROXY
handling and User-Agent, and a single multipart POST does not need it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.errors import AppError
from core.http import RetryPolicy, outbound_client, retry_after_seconds, with_retries
from videos.errors import (
    ASR_API_CHANGED,
    ASR_DEADLINE,
    ASR_EMPTY_AUDIO,
    ASR_FAILED,
    ASR_KEY_REJECTED,
    ASR_REJECTED,
    ASR_TASK_FAILED,
    ASR_TIMEOUT,
    ASR_UNREACHABLE,
)
from videos.types import Cue, Transcript

logger = logging.getLogger(__name__)

# Extensions bcut accepts as `resource_file_type` (docs §9); the OpenAI API accepts them too.
AUDIO_TYPES = {"m4a": "audio/mp4", "aac": "audio/aac", "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac"}
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0


async def transcribe_audio(audio: bytes, *, filename: str = "audio.m4a") -> Transcript:
    """Transcribe audio bytes with the configured ASR backend. Raises AppError (asr_* kinds)."""
    if not audio:
        raise AppError(ASR_EMPTY_AUDIO)
    backend = settings.ASR_BACKEND
    if backend == "bcut":
        return await _transcribe_with_bcut(audio, filename)
    if backend == "openai":
        return await _transcribe_with_openai(audio, filename)
    raise ImproperlyConfigured(f"ASR_BACKEND: expected bcut or openai, got {backend!r}")


# --- Shared helpers ------------------------------------------------------------------------------


def _asr_error(detail: str) -> AppError:
    """A failure of the service that trying again later may fix; `detail` says what failed."""
    return AppError(ASR_FAILED, detail=detail)


class _RetryableResponse(Exception):
    """A reply with a status worth retrying (429, 5xx …); the last one is returned as it is."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _upload_name(filename: str) -> tuple[str, str]:
    """(name to upload, audio type). DASH `.m4s` audio is fragmented MP4/AAC, so it goes up as m4a."""
    path = PurePath(filename or "audio.m4a")
    audio_type = path.suffix.lower().lstrip(".")
    if audio_type not in AUDIO_TYPES:
        audio_type = "m4a"
    return f"{path.stem or 'audio'}.{audio_type}", audio_type


def _request_timeout() -> float:
    return float(settings.ASR_TIMEOUT_SECONDS)


def _retry_policy() -> RetryPolicy:
    """ASR_RETRY_ATTEMPTS tries, backoff from ASR_RETRY_BASE_DELAY_SECONDS, Retry-After up to 30 s."""
    return RetryPolicy(
        attempts=max(1, int(settings.ASR_RETRY_ATTEMPTS)),
        base_delay=float(settings.ASR_RETRY_BASE_DELAY_SECONDS),
        max_delay=MAX_RETRY_AFTER_SECONDS,
    )


def _server_delay(exc: Exception) -> float | None:
    return retry_after_seconds(exc.response.headers) if isinstance(exc, _RetryableResponse) else None


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
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
            policy=_retry_policy(),
            is_retryable=lambda exc: isinstance(exc, _RetryableResponse | httpx.TransportError),
            server_delay=_server_delay,
            what=f"ASR {method} {url}",
        )
    except _RetryableResponse as exc:
        return exc.response
    except httpx.TransportError as exc:
        raise AppError(ASR_UNREACHABLE, details={"reason": str(exc)[:200]}) from exc


def _json_body(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise _asr_error(f"{service}: a body that is not JSON (HTTP {response.status_code})") from exc


def _make_cue(start_ms: int, end_ms: int, text: str) -> Cue | None:
    text = text.strip()
    if not text:
        return None
    start_ms = max(0, start_ms)
    return Cue(start_ms=start_ms, end_ms=max(start_ms, end_ms), text=text)


def _sorted_cues(cues: list[Cue | None]) -> list[Cue]:
    return sorted((cue for cue in cues if cue is not None), key=lambda cue: (cue.start_ms, cue.end_ms))


# --- bcut (必剪) ---------------------------------------------------------------------------------
# Flow (docs §9): resource/create → PUT parts → resource/create/complete → task → poll task/result.

BCUT = "必剪 (bcut)"
BCUT_DONE, BCUT_FAILED = 4, 3  # task states; 0 waiting and 1 running mean "poll again"
BCUT_RESULT_MODEL_ID = "7"  # both known clients poll with model_id=7
BCUT_REJECT_STATUSES = frozenset({400, 412, 415})
BCUT_REJECT_CODES = frozenset({-400, -412, 400, 412})


@dataclass(frozen=True)
class BcutEncoding:
    """One of the two request shapes seen in the wild; which one the server takes today is unverified."""

    name: str
    model_id: str
    json_body: bool
    file_type_key: str
    complete_keys: tuple[str, str, str, str]  # in_boss_key, resource_id, etags, upload_id

    def create_fields(self, name: str, size: int, audio_type: str) -> dict[str, Any]:
        return {"type": 2, "name": name, "size": size, self.file_type_key: audio_type, "model_id": self.model_id}

    def complete_fields(self, upload: BcutUpload, etags: list[str]) -> dict[str, Any]:
        boss_key, resource_key, etags_key, upload_key = self.complete_keys
        return {
            boss_key: upload.in_boss_key,
            resource_key: upload.resource_id,
            etags_key: ",".join(etags),
            upload_key: upload.upload_id,
            "model_id": self.model_id,
        }

    def task_fields(self, download_url: str) -> dict[str, Any]:
        return {"resource": download_url, "model_id": self.model_id}


# VideoCaptioner's JSON/CamelCase shape goes first: a 2025 report shows the form shape rejected with
# "CreateResourceReq.ResourceFileType ... required". bcut-asr's form/snake_case shape is the fallback.
JSON_ENCODING = BcutEncoding("json", "8", True, "ResourceFileType", ("InBossKey", "ResourceId", "Etags", "UploadId"))
FORM_ENCODING = BcutEncoding(
    "form", "7", False, "resource_file_type", ("in_boss_key", "resource_id", "etags", "upload_id")
)


@dataclass(frozen=True)
class BcutUpload:
    resource_id: str
    in_boss_key: str
    upload_id: str
    upload_urls: list[str]
    per_size: int


class _EncodingRejected(Exception):
    """The server refused the request shape (HTTP 400/412 or code -400); the other shape may work."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def _transcribe_with_bcut(audio: bytes, filename: str) -> Transcript:
    deadline = float(settings.BCUT_DEADLINE_SECONDS)
    try:
        async with asyncio.timeout(deadline), outbound_client(timeout=_request_timeout()) as client:
            client.headers["Cache-Control"] = "no-cache"  # with a browser UA, avoids 412 (docs §9)
            result = await _BcutSession(client).run(audio, filename)
    except TimeoutError as exc:
        raise AppError(ASR_DEADLINE, seconds=f"{deadline:g}") from exc
    return Transcript(cues=cues_from_bcut_result(result), source="asr")


class _BcutSession:
    """One transcription job; remembers which request encoding the server accepted."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.base = str(settings.BCUT_API_BASE).rstrip("/")
        self.encodings = [JSON_ENCODING, FORM_ENCODING]

    async def run(self, audio: bytes, filename: str) -> str | dict[str, Any]:
        name, audio_type = _upload_name(filename)
        upload = await self.create_resource(name, len(audio), audio_type)
        etags = await self.upload_parts(upload, audio)
        download_url = await self.complete(upload, etags)
        task_id = await self.create_task(download_url)
        return await self.poll(task_id)

    async def create_resource(self, name: str, size: int, audio_type: str) -> BcutUpload:
        data = await self.post("/resource/create", lambda enc: enc.create_fields(name, size, audio_type))
        try:
            upload = BcutUpload(
                resource_id=str(data["resource_id"]),
                in_boss_key=str(data["in_boss_key"]),
                upload_id=str(data["upload_id"]),
                upload_urls=[str(url) for url in data["upload_urls"]],
                per_size=int(data["per_size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bcut_unexpected("resource/create") from exc
        if upload.per_size <= 0 or upload.per_size * len(upload.upload_urls) < size:
            raise _asr_error("bcut's upload parts cannot hold the whole audio")
        return upload

    async def upload_parts(self, upload: BcutUpload, audio: bytes) -> list[str]:
        """PUT each clip to its URL in order; the ETag of each reply goes into the commit."""
        etags = []
        for index, url in enumerate(upload.upload_urls):
            clip = audio[index * upload.per_size : (index + 1) * upload.per_size]
            headers = {"Content-Type": "application/octet-stream"}
            response = await _send(self.client, "PUT", url, content=clip, headers=headers)
            etag = response.headers.get("ETag", "")
            if response.status_code >= 400 or not etag:
                raise _asr_error(f"uploading audio part {index + 1}: HTTP {response.status_code}")
            etags.append(etag)
        return etags

    async def complete(self, upload: BcutUpload, etags: list[str]) -> str:
        data = await self.post("/resource/create/complete", lambda enc: enc.complete_fields(upload, etags))
        return _bcut_field(data, "download_url", "resource/create/complete")

    async def create_task(self, download_url: str) -> str:
        # The task body is JSON in both encodings; only model_id differs.
        data = await self.post("/task", lambda enc: enc.task_fields(download_url), always_json=True)
        return _bcut_field(data, "task_id", "task")

    async def poll(self, task_id: str) -> str | dict[str, Any]:
        """Poll until done (4) or failed (3); the caller's deadline stops a task that never ends."""
        interval = max(0.0, float(settings.BCUT_POLL_INTERVAL_SECONDS))
        params = {"model_id": BCUT_RESULT_MODEL_ID, "task_id": task_id}
        while True:
            response = await _send(self.client, "GET", f"{self.base}/task/result", params=params)
            try:
                data = _bcut_reply(response, "task/result")
            except _EncodingRejected as exc:  # polling has one shape only: nothing else to try
                raise _asr_error(exc.detail) from exc
            state = data.get("state")
            if state == BCUT_DONE:
                return data.get("result") or ""
            if state == BCUT_FAILED:
                remark = str(data.get("remark") or "")
                raise AppError(ASR_TASK_FAILED, remark=remark)
            logger.debug("bcut task %s state %s: %s", task_id, state, data.get("remark"))
            await asyncio.sleep(interval)

    async def post(
        self, path: str, fields_for: Callable[[BcutEncoding], dict[str, Any]], *, always_json: bool = False
    ) -> dict[str, Any]:
        """POST in the preferred encoding; when it is rejected, try the other and prefer that from now on."""
        rejected: list[str] = []
        for encoding in list(self.encodings):
            fields = fields_for(encoding)
            as_json = always_json or encoding.json_body
            body = {"json": fields} if as_json else {"data": {key: str(value) for key, value in fields.items()}}
            response = await _send(self.client, "POST", f"{self.base}{path}", **body)
            try:
                data = _bcut_reply(response, path.lstrip("/"))
            except _EncodingRejected as exc:
                logger.info("bcut rejected the %s encoding on %s: %s", encoding.name, path, exc.detail)
                rejected.append(exc.detail)
                continue
            self.encodings.remove(encoding)
            self.encodings.insert(0, encoding)
            return data
        raise AppError(ASR_API_CHANGED, path=path, rejected="; ".join(rejected))


def _bcut_reply(response: httpx.Response, step: str) -> dict[str, Any]:
    """The `data` of a {code, message, data} reply; raises AppError (or _EncodingRejected)."""
    if response.status_code in BCUT_REJECT_STATUSES:
        raise _EncodingRejected(f"bcut rejected {step} (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise _asr_error(f"bcut {step}: HTTP {response.status_code}")
    body = _json_body(response, BCUT)
    if not isinstance(body, dict):
        raise _bcut_unexpected(step)
    code, message = body.get("code"), str(body.get("message") or "")
    if code in BCUT_REJECT_CODES:
        raise _EncodingRejected(f"bcut rejected {step}: {message}")
    if code != 0:
        raise _asr_error(f"bcut {step}: error {code} {message}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise _bcut_unexpected(step)
    return data


def _bcut_field(data: dict[str, Any], key: str, step: str) -> str:
    value = data.get(key)
    if not isinstance(value, str | int) or value == "":
        raise _bcut_unexpected(step)
    return str(value)


def _bcut_unexpected(step: str) -> AppError:
    return _asr_error(f"bcut {step}: unexpected reply")


def cues_from_bcut_result(result: str | dict[str, Any]) -> list[Cue]:
    """Cues from a finished task's `result` (a JSON string of {"utterances": [...]}, times in ms).

    No speech gives empty utterances, hence an empty list.
    """
    try:
        payload = json.loads(result) if isinstance(result, str | bytes) else result
        utterances = payload["utterances"]
        return _sorted_cues(
            [_make_cue(int(item["start_time"]), int(item["end_time"]), str(item["transcript"])) for item in utterances]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise _bcut_unexpected("task/result") from exc


# --- OpenAI-compatible /audio/transcriptions -------------------------------------------------------

OPENAI = "OpenAI-compatible ASR"


async def _transcribe_with_openai(audio: bytes, filename: str) -> Transcript:
    name, audio_type = _upload_name(filename)
    url = f"{str(settings.ASR_BASE_URL).rstrip('/')}/audio/transcriptions"
    api_key = settings.ASR_API_KEY
    fields = {
        "model": settings.ASR_MODEL,
        "response_format": "verbose_json",
        "timestamp_granularities[]": "segment",
    }
    files = {"file": (name, audio, AUDIO_TYPES[audio_type])}
    # Local servers (whisper.cpp, faster-whisper) often need no key, so only send one when set.
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    async with outbound_client(timeout=_request_timeout()) as client:
        response = await _send(client, "POST", url, data=fields, files=files, headers=headers)
    _raise_for_openai_status(response)
    return transcript_from_verbose_json(_json_body(response, OPENAI))


def _raise_for_openai_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _openai_error_message(response)
    if status in (401, 403):
        raise AppError(ASR_KEY_REJECTED, detail=detail)
    if status in RETRY_STATUSES:
        raise _asr_error(f"HTTP {status}: {detail}")
    raise AppError(ASR_REJECTED, status=status, detail=detail)


def _openai_error_message(response: httpx.Response) -> str:
    """The {"error": {"message": ...}} text, or the start of the body."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text)[:300]


def transcript_from_verbose_json(payload: Any) -> Transcript:
    """Cues from a verbose_json reply: segments[].start/end (float seconds) and text."""
    if not isinstance(payload, dict):
        raise _openai_unexpected()
    segments = payload.get("segments")
    try:
        if segments:
            cues = [
                _make_cue(round(float(seg["start"]) * 1000), round(float(seg["end"]) * 1000), str(seg["text"]))
                for seg in segments
            ]
        else:
            # Some compatible servers give only text; keep it as one cue over the whole duration.
            duration_ms = round(float(payload.get("duration") or 0) * 1000)
            cues = [_make_cue(0, duration_ms, str(payload.get("text") or ""))]
    except (KeyError, TypeError, ValueError) as exc:
        raise _openai_unexpected() from exc
    if segments is None and not payload.get("text"):
        raise _openai_unexpected()
    language = payload.get("language")
    return Transcript(cues=_sorted_cues(cues), source="asr", language=language if isinstance(language, str) else "")


def _openai_unexpected() -> AppError:
    return _asr_error("no verbose_json with segments")

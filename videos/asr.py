"""Speech recognition for videos without subtitles: bcut (必剪) or an OpenAI-compatible endpoint.

`transcribe_audio` is the one entry point; `settings.ASR_BACKEND` picks the service. Audio (bytes
or a file, see videos.audio) is uploaded as it is (m4a / DASH m4s / mp3 …), so no ffmpeg is needed.
The bcut client is videos.asr_bcut. An OpenAI-compatible endpoint takes files up to 25 MB: a larger
file goes up in overlapping pieces (ASR_UPLOAD_MAX_BYTES, ASR_PIECE_OVERLAP_SECONDS) cut by PyAV,
and their cues are joined into one timeline (videos.audio.join_piece_cues).

The OpenAI-compatible backend uses plain httpx through `outbound_client` rather than the `openai`
SDK: the SDK runs on its own http stack (httpx2), so it could not share our client, OUTBOUND_PROXY
handling and User-Agent, and a multipart POST does not need it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.errors import AppError
from core.http import outbound_client
from videos.asr_bcut import cues_from_bcut_result, transcribe_with_bcut
from videos.asr_common import (
    AUDIO_TYPES,
    RETRY_STATUSES,
    asr_error,
    json_body,
    make_cue,
    request_timeout,
    send,
    sorted_cues,
    upload_name,
)
from videos.audio import audio_size, join_piece_cues, split_audio, temp_dir
from videos.errors import ASR_EMPTY_AUDIO, ASR_KEY_REJECTED, ASR_REJECTED
from videos.types import Transcript

__all__ = ["cues_from_bcut_result", "transcribe_audio", "transcript_from_verbose_json"]

logger = logging.getLogger(__name__)


async def transcribe_audio(audio: bytes | Path, *, filename: str = "audio.m4a") -> Transcript:
    """Transcribe audio bytes or an audio file with the configured ASR backend. Raises AppError (asr_*)."""
    if not audio_size(audio):
        raise AppError(ASR_EMPTY_AUDIO)
    backend = settings.ASR_BACKEND
    if backend == "bcut":
        return await transcribe_with_bcut(audio, filename)
    if backend == "openai":
        return await _transcribe_with_openai(audio, filename)
    raise ImproperlyConfigured(f"ASR_BACKEND: expected bcut or openai, got {backend!r}")


# --- OpenAI-compatible /audio/transcriptions -------------------------------------------------------

OPENAI = "OpenAI-compatible ASR"


async def _transcribe_with_openai(audio: bytes | Path, filename: str) -> Transcript:
    """One upload, or pieces when the audio is over ASR_UPLOAD_MAX_BYTES."""
    max_bytes = int(settings.ASR_UPLOAD_MAX_BYTES)
    if audio_size(audio) <= max_bytes:
        return await _transcribe_one(audio, filename)
    with tempfile.TemporaryDirectory(prefix="chatbili-asr-", dir=temp_dir()) as folder:
        source = audio if isinstance(audio, Path) else Path(folder, upload_name(filename)[0])
        if isinstance(audio, bytes):
            source.write_bytes(audio)
        overlap = float(settings.ASR_PIECE_OVERLAP_SECONDS)
        pieces = await asyncio.to_thread(
            split_audio, source, max_bytes=max_bytes, overlap_seconds=overlap, into=Path(folder)
        )
        logger.info("ASR: %s bytes of audio go up in %d pieces", audio_size(audio), len(pieces))
        heard = []
        for piece in pieces:  # one at a time: the endpoint's rate limits, and the order of the log
            heard.append((piece, await _transcribe_one(piece.path, piece.path.name)))
    language = next((transcript.language for _, transcript in heard if transcript.language), "")
    cues = join_piece_cues([(piece, transcript.cues) for piece, transcript in heard])
    return Transcript(cues=cues, source="asr", language=language)


async def _transcribe_one(audio: bytes | Path, filename: str) -> Transcript:
    name, audio_type = upload_name(filename)
    url = f"{str(settings.ASR_BASE_URL).rstrip('/')}/audio/transcriptions"
    api_key = settings.ASR_API_KEY
    fields = {
        "model": settings.ASR_MODEL,
        "response_format": "verbose_json",
        "timestamp_granularities[]": "segment",
    }
    # At most ASR_UPLOAD_MAX_BYTES: the size the endpoint takes in one request.
    content = audio if isinstance(audio, bytes) else await asyncio.to_thread(audio.read_bytes)
    files = {"file": (name, content, AUDIO_TYPES[audio_type])}
    # Local servers (whisper.cpp, faster-whisper) often need no key, so only send one when set.
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    async with outbound_client(timeout=request_timeout()) as client:
        response = await send(client, "POST", url, data=fields, files=files, headers=headers)
    _raise_for_openai_status(response)
    return transcript_from_verbose_json(json_body(response, OPENAI))


def _raise_for_openai_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _openai_error_message(response)
    if status in (401, 403):
        raise AppError(ASR_KEY_REJECTED, detail=detail)
    if status in RETRY_STATUSES:
        raise asr_error(f"HTTP {status}: {detail}")
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
                make_cue(round(float(seg["start"]) * 1000), round(float(seg["end"]) * 1000), str(seg["text"]))
                for seg in segments
            ]
        else:
            # Some compatible servers give only text; keep it as one cue over the whole duration.
            duration_ms = round(float(payload.get("duration") or 0) * 1000)
            cues = [make_cue(0, duration_ms, str(payload.get("text") or ""))]
    except (KeyError, TypeError, ValueError) as exc:
        raise _openai_unexpected() from exc
    if segments is None and not payload.get("text"):
        raise _openai_unexpected()
    language = payload.get("language")
    return Transcript(cues=sorted_cues(cues), source="asr", language=language if isinstance(language, str) else "")


def _openai_unexpected() -> AppError:
    return asr_error("no verbose_json with segments")

"""A local stand-in for an OpenAI-compatible `POST /v1/audio/transcriptions`.

    fake = FakeOpenAIASR(segments=[...], failures=[429, 429])
    fake_server(fake.app, ASR_BASE_URL="/v1")

`failures` lists statuses answered, in order, before the real reply (429-then-success and so on).
With `listen=True` the segments come from the uploaded audio itself: each stretch of one steady tone
is a segment whose text names the tone's line (tests.asr.generated_audio), with times relative to the
uploaded file. A file over `max_bytes` (25 MB, as the real API) is refused with 413.
`response_format=verbose_json` gets {task, language, duration, text, segments}; anything else gets
only {"text"}, as the real API does. Every multipart upload is recorded.
"""

from __future__ import annotations

import asyncio
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # C speed without numpy; in the standard library up to Python 3.12

import av

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
WINDOW_SECONDS = 0.25
SILENCE_RMS = 500


@dataclass
class ReceivedUpload:
    fields: dict[str, list[str]]
    filename: str
    content_type: str
    data: bytes
    authorization: str


@dataclass
class FakeOpenAIASR:
    segments: list[dict[str, Any]] = field(default_factory=list)
    language: str = "chinese"
    api_key: str = "test-asr-key"  # the expected Bearer token; "" accepts a request without one
    failures: list[int] = field(default_factory=list)
    reply: dict[str, Any] | None = None  # a raw JSON reply instead of the verbose_json built here
    delay_seconds: float = 0.0  # wait this long before answering (timeouts)
    listen: bool = False  # segments from the uploaded audio's tones instead of `segments`
    max_bytes: int = MAX_UPLOAD_BYTES
    attempts: int = 0
    uploads: list[ReceivedUpload] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"])])

    async def transcriptions(self, request: Request) -> Response:
        self.attempts += 1
        await asyncio.sleep(self.delay_seconds)
        authorization = request.headers.get("authorization", "")
        if self.api_key and authorization != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_request_error")
        if self.attempts <= len(self.failures):
            status = self.failures[self.attempts - 1]
            return _error(status, f"fake failure {status}", "rate_limit_error" if status == 429 else "server_error")
        upload = _parse_upload(await request.body(), request.headers.get("content-type", ""), authorization)
        if upload is None:
            return _error(400, "Could not parse multipart form", "invalid_request_error")
        self.uploads.append(upload)
        if len(upload.data) > self.max_bytes:
            return _error(413, f"Maximum content size limit ({self.max_bytes}) exceeded", "invalid_request_error")
        if self.reply is not None:
            return JSONResponse(self.reply)
        heard = await asyncio.to_thread(segments_heard, upload.data) if self.listen else self.segments
        text = "".join(segment["text"] for segment in heard)
        if upload.fields.get("response_format") != ["verbose_json"]:
            return JSONResponse({"text": text})
        duration = max((segment["end"] for segment in heard), default=0.0)
        segments = [{"id": index, "seek": 0, **segment} for index, segment in enumerate(heard)]
        body = {"task": "transcribe", "language": self.language, "duration": duration, "text": text}
        return JSONResponse({**body, "segments": segments})


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status)


def _parse_upload(body: bytes, content_type: str, authorization: str) -> ReceivedUpload | None:
    """A minimal multipart/form-data reader (python-multipart is not installed)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        return None
    fields: dict[str, list[str]] = {}
    file: tuple[str, str, bytes] | None = None
    for part in body.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = _part_headers(head)
        params = dict(re.findall(r'(\w+)="([^"]*)"', headers.get("content-disposition", "")))
        if "filename" in params:
            file = (params["filename"], headers.get("content-type", ""), data)
        elif "name" in params:
            fields.setdefault(params["name"], []).append(data.decode())
    if file is None:
        return None
    return ReceivedUpload(fields, file[0], file[1], file[2], authorization)


def _part_headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode().split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def segments_heard(data: bytes) -> list[dict[str, Any]]:
    """Decode the audio and give one segment per stretch of one steady tone.

    The audio is read in windows of WINDOW_SECONDS: a window's line comes from its zero crossings;
    silence and single windows (a tone's edge straddling a window) are nobody's line.
    """
    from tests.asr.generated_audio import line_of_hz

    samples = _mono_s16(data)
    width = int(16_000 * WINDOW_SECONDS) * 2
    lines: list[int | None] = []
    for offset in range(0, len(samples) - width + 1, width):
        chunk = samples[offset : offset + width]
        heard = audioop.rms(chunk, 2) >= SILENCE_RMS
        lines.append(line_of_hz(audioop.cross(chunk, 2) / 2 / WINDOW_SECONDS) if heard else None)
    segments = []
    for first, last, line in _runs(lines):
        if line is not None and last > first:
            start, end = first * WINDOW_SECONDS, (last + 1) * WINDOW_SECONDS
            segments.append({"start": start, "end": end, "text": f"第{line}句"})
    return segments


def _runs(values: list[Any]) -> list[tuple[int, int, Any]]:
    """(first index, last index, value) of each run of equal values."""
    runs: list[tuple[int, int, Any]] = []
    for index, value in enumerate(values):
        if runs and runs[-1][2] == value and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index, value)
        else:
            runs.append((index, index, value))
    return runs


def _mono_s16(data: bytes) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
    pcm = bytearray()
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pcm += bytes(out.planes[0])[: out.samples * 2]
    for out in resampler.resample(None):
        pcm += bytes(out.planes[0])[: out.samples * 2]
    return bytes(pcm)

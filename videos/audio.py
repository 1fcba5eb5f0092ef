"""Audio files for ASR: streamed downloads to a temporary file, and pieces small enough to upload.

    async with downloaded_audio(http, urls, headers=headers) as path:
        ...  # a temporary file, removed when the block ends

`split_audio` cuts a file into overlapping pieces with PyAV by copying its packets (no decoding, no
ffmpeg binary), and `join_piece_cues` puts the pieces' cues back on one timeline: each overlap is
cut at its middle, so a line spoken near a piece's edge is taken from the piece that heard it whole,
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx
from django.conf import settings

from core.errors import AppError
from videos.errors import AUDIO_DOWNLOAD_FAILED, AUDIO_TOO_LARGE, AUDIO_UNREADABLE, RETRY_LATER_SECONDS
from videos.types import Cue

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# Headroom under the upload limit for container overhead and uneven bitrates.
PIECE_SIZE_MARGIN = 0.9
# codec → (container format, file extension) of a piece; all are formats the OpenAI API takes.
PIECE_FORMATS = {
    "aac": ("mp4", "m4a"),
    "mp3": ("mp3", "mp3"),
    "opus": ("ogg", "ogg"),
    "vorbis": ("ogg", "ogg"),
    "flac": ("flac", "flac"),
}


@dataclass(frozen=True)
class AudioPiece:
    """One piece of a longer file: where it is and which stretch of the original it holds."""

    path: Path
    start_seconds: float
    end_seconds: float


def temp_dir() -> str | None:
    return settings.AUDIO_TEMP_DIR or None


# --- streamed download --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def downloaded_audio(
    http: httpx.AsyncClient, urls: Sequence[str], *, headers: Mapping[str, str]
) -> AsyncIterator[Path]:
    """The audio of the first URL that works, in a temporary file removed after the block.

    At most AUDIO_MAX_BYTES are written: a larger file fails with `audio_too_large`.
    """
    handle, name = tempfile.mkstemp(prefix="chatbili-audio-", suffix=".m4a", dir=temp_dir())
    os.close(handle)
    path = Path(name)
    try:
        await _download_first(http, urls, headers, path)
        yield path
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


async def _download_first(http: httpx.AsyncClient, urls: Sequence[str], headers: Mapping[str, str], path: Path) -> None:
    for url in urls:
        host = urlsplit(url).hostname
        try:
            if await _stream_to_file(http, url, headers, path):
                return
        except httpx.HTTPError as exc:
            logger.warning("Audio download from %s failed: %r", host, exc)
    raise AppError(AUDIO_DOWNLOAD_FAILED, retry_after=RETRY_LATER_SECONDS)


async def _stream_to_file(http: httpx.AsyncClient, url: str, headers: Mapping[str, str], path: Path) -> bool:
    """Write one URL's body to `path` chunk by chunk; False when the URL answers with an error."""
    limit = int(settings.AUDIO_MAX_BYTES)
    async with http.stream("GET", url, headers=dict(headers), follow_redirects=True) as response:
        if response.status_code not in (200, 206):
            logger.warning("Audio download from %s failed: HTTP %s", urlsplit(url).hostname, response.status_code)
            return False
        declared = int(response.headers.get("content-length") or 0)
        if declared > limit:
            raise AppError(AUDIO_TOO_LARGE, limit_mb=_megabytes(limit))
        written = 0
        with path.open("wb") as file:
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise AppError(AUDIO_TOO_LARGE, limit_mb=_megabytes(limit))
                file.write(chunk)
    return written > 0


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


# --- reading a source that is bytes or a file -------------------------------------------------------


def audio_size(audio: bytes | Path) -> int:
    return len(audio) if isinstance(audio, bytes) else audio.stat().st_size


def read_range(audio: bytes | Path, offset: int, length: int) -> bytes:
    """`length` bytes from `offset` (fewer at the end)."""
    if isinstance(audio, bytes):
        return audio[offset : offset + length]
    with audio.open("rb") as file:
        file.seek(offset)
        return file.read(length)


# --- splitting and joining ----------------------------------------------------------------------------


def split_audio(path: Path, *, max_bytes: int, overlap_seconds: float, into: Path) -> list[AudioPiece]:
    """Overlapping pieces of about `max_bytes` each in the folder `into` (packets copied, not re-encoded)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            duration = _duration_seconds(container, stream)
            piece_seconds = _piece_seconds(path.stat().st_size, duration, max_bytes, overlap_seconds)
            writer = _PieceWriter(stream, into, piece_seconds, overlap_seconds, duration)
            for packet in container.demux(stream):
                writer.add(packet)
            return writer.finish()
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise AppError(AUDIO_UNREADABLE, detail=str(exc)[:200]) from exc


def _duration_seconds(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    raise ValueError("the audio's duration is unknown")


def _piece_seconds(size: int, duration: float, max_bytes: int, overlap_seconds: float) -> float:
    """Seconds per piece so that a piece stays under `max_bytes` at the file's mean bitrate."""
    seconds = duration * max_bytes * PIECE_SIZE_MARGIN / max(size, 1)
    if seconds < 3 * overlap_seconds:
        raise ValueError(f"pieces of {seconds:.0f} s are too short for an overlap of {overlap_seconds:g} s")
    return seconds


class _PieceWriter:
    """Copies each packet into every piece whose stretch holds it; a piece opens at its first packet."""

    def __init__(
        self, stream: av.audio.AudioStream, into: Path, piece_seconds: float, overlap: float, duration: float
    ) -> None:
        self.stream = stream
        self.time_base = stream.time_base
        self.format, self.extension = PIECE_FORMATS.get(stream.codec_context.name, ("matroska", "mka"))
        self.into = into
        self.length = piece_seconds
        self.step = piece_seconds - overlap
        # Pieces needed to reach the end: none that would lie wholly inside the one before it.
        self.count = max(1, math.ceil((duration - piece_seconds) / self.step) + 1)
        self.open: dict[int, tuple[av.container.OutputContainer, av.stream.Stream, int]] = {}
        self.pieces: dict[int, AudioPiece] = {}
        self.last_seconds = 0.0

    def add(self, packet: av.Packet) -> None:
        if packet.pts is None or packet.size == 0:
            return
        seconds = float(packet.pts * self.time_base)
        self.last_seconds = max(self.last_seconds, seconds + float((packet.duration or 0) * self.time_base))
        for index in list(self.open):
            if seconds >= self._end(index):
                self._close(index)
        first = max(0, math.floor((seconds - self.length) / self.step) + 1)
        for index in range(first, min(self.count - 1, max(0, math.floor(seconds / self.step))) + 1):
            if self._end(index) > seconds and index not in self.pieces:
                self._start(index, packet)
            if index in self.open:
                self._write(index, packet)

    def _start(self, index: int, packet: av.Packet) -> None:
        path = self.into / f"piece-{index:04d}.{self.extension}"
        output = av.open(str(path), "w", format=self.format)
        out_stream = output.add_stream_from_template(self.stream)
        offset = 0 if index == 0 else packet.pts
        self.open[index] = (output, out_stream, offset)
        self.pieces[index] = AudioPiece(path, float(offset * self.time_base), 0.0)

    def _write(self, index: int, packet: av.Packet) -> None:
        output, out_stream, offset = self.open[index]
        copy = av.Packet(bytes(packet))
        copy.pts = packet.pts - offset
        copy.dts = (packet.dts if packet.dts is not None else packet.pts) - offset
        copy.duration = packet.duration
        copy.time_base = self.time_base
        copy.stream = out_stream
        output.mux(copy)

    def _close(self, index: int) -> None:
        output, _, _ = self.open.pop(index)
        output.close()
        piece = self.pieces[index]
        self.pieces[index] = AudioPiece(piece.path, piece.start_seconds, min(self.last_seconds, self._end(index)))

    def _end(self, index: int) -> float:
        return math.inf if index == self.count - 1 else index * self.step + self.length

    def finish(self) -> list[AudioPiece]:
        for index in list(self.open):
            self._close(index)
        return [self.pieces[index] for index in sorted(self.pieces)]


def join_piece_cues(pieces: Sequence[tuple[AudioPiece, Sequence[Cue]]]) -> list[Cue]:
    """One timeline from each piece's cues (times relative to the piece): no line twice, none lost.

    Two neighbours are cut in the middle of their overlap, or just before a line the earlier piece
    heard cut off at its end; a piece gives the cues that start between its cuts. A kept cue that
    runs past the next kept cue's start is ended there.
    """
    absolute = [_absolute(piece, cues) for piece, cues in pieces]
    cuts = [_cut(pieces[index][0], pieces[index + 1][0], absolute[index]) for index in range(len(pieces) - 1)]
    bounds = [-math.inf, *cuts, math.inf]
    joined = [
        cue for index, cues in enumerate(absolute) for cue in cues if bounds[index] <= cue.start_ms < bounds[index + 1]
    ]
    return list(_without_overlaps(joined))


EDGE_MS = 500  # a cue ending this close to its piece's end was cut off by it


def _absolute(piece: AudioPiece, cues: Sequence[Cue]) -> list[Cue]:
    offset_ms = round(piece.start_seconds * 1000)
    return sorted(
        (Cue(cue.start_ms + offset_ms, cue.end_ms + offset_ms, cue.text) for cue in cues), key=lambda c: c.start_ms
    )


def _cut(piece: AudioPiece, following: AudioPiece, cues: list[Cue]) -> float:
    """Where (ms) `piece` hands over to `following`."""
    cut = (piece.end_seconds + following.start_seconds) * 500
    cut_off = [cue.start_ms for cue in cues if cue.start_ms < cut and cue.end_ms >= piece.end_seconds * 1000 - EDGE_MS]
    if cut_off:
        cut = max(min(cut_off) - EDGE_MS, following.start_seconds * 1000 + EDGE_MS)
    return cut


def _without_overlaps(cues: list[Cue]) -> Iterator[Cue]:
    for cue, following in zip(cues, [*cues[1:], None], strict=True):
        if following is not None and cue.end_ms > following.start_ms:
            yield Cue(cue.start_ms, max(cue.start_ms, following.start_ms), cue.text)
        else:
            yield cue

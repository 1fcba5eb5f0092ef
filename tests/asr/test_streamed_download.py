"""Audio is streamed to a temporary file with a size cap (videos.audio via BilibiliClient)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core.errors import AppError
from videos.bilibili import BilibiliClient

MB = 1024 * 1024
PATTERN = bytes(range(256)) * 256  # 64 KiB


class BigAudio:
    """A CDN that streams `size` bytes made on the fly (so the fake holds none of them)."""

    def __init__(self, size: int, *, declare_length: bool = True) -> None:
        self.size = size
        self.declare_length = declare_length

    async def body(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.size:
            chunk = PATTERN[: min(len(PATTERN), self.size - sent)]
            sent += len(chunk)
            yield chunk

    async def audio(self, request: Request) -> Response:
        headers = {"content-length": str(self.size)} if self.declare_length else {}
        return StreamingResponse(self.body(), media_type="video/mp4", headers=headers)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/audio.m4s", self.audio)])


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The highest resident set size seen while the block runs (sampled every 2 ms)."""

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = rss_bytes()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc_info: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.fixture(autouse=True)
def _no_db_login(settings: Any) -> None:
    settings.BILIBILI_SESSDATA = ""


async def download(url: str) -> tuple[int, bytes]:
    async with BilibiliClient() as client, client.download_audio_file([url]) as path:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(16)
        assert Path(path).exists()
    assert not path.exists()  # removed after the block
    return size, head


async def test_a_large_file_streams_to_disk_with_flat_memory(fake_server: Any, settings: Any) -> None:
    settings.AUDIO_MAX_BYTES = 100 * MB
    server = fake_server(BigAudio(50 * MB).app)
    await download(f"{server.url}/audio.m4s")  # warm up: clients, TLS context, imports
    with PeakRss() as rss:
        size, head = await download(f"{server.url}/audio.m4s")
    assert (size, head) == (50 * MB, PATTERN[:16])
    assert rss.growth < 15 * MB, f"resident memory grew by {rss.growth / MB:.1f} MB for a 50 MB download"


async def test_a_declared_size_over_the_cap_is_refused_before_reading(fake_server: Any, settings: Any) -> None:
    settings.AUDIO_MAX_BYTES = 1 * MB
    server = fake_server(BigAudio(2 * MB).app)
    with pytest.raises(AppError) as caught:
        await download(f"{server.url}/audio.m4s")
    assert (caught.value.code, caught.value.message("en")) == (
        "audio_too_large",
        "The video's audio is larger than the 1 MB limit (AUDIO_MAX_BYTES) and cannot be transcribed",
    )


async def test_an_undeclared_size_over_the_cap_stops_the_download(
    fake_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.AUDIO_MAX_BYTES, settings.AUDIO_TEMP_DIR = 1 * MB, str(tmp_path)
    server = fake_server(BigAudio(3 * MB, declare_length=False).app)
    with pytest.raises(AppError) as caught:
        await download(f"{server.url}/audio.m4s")
    assert caught.value.code == "audio_too_large"
    assert list(tmp_path.iterdir()) == []  # the partial file is gone

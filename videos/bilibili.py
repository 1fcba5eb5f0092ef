"""The one module that talks to Bilibili: api.bilibili.com, comment.bilibili.com and b23.tv.

`BilibiliClient` is one session per ingestion: one HTTP client with one cookie jar (SESSDATA when
configured, buvid3/buvid4 fetched once), cached WBI keys, and retries (core.http.with_retries)
for risk control (HTTP 412, -352, …), timeouts and 5xx. Everything that fails ends as an
`AppError` whose `retryable` says whether trying again later can help.

    async with BilibiliClient() as bilibili:
        ref = await bilibili.resolve(user_text)
        info = await bilibili.fetch_video_info(ref.bvid)

Replies are read by videos.bilibili_replies and videos.danmaku. Endpoints, wire shapes and
risk-control behaviour follow docs/bilibili-api.md.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from core.errors import AppError
from core.http import BROWSER_USER_AGENT, RetryPolicy, outbound_client, with_retries
from videos.audio import downloaded_audio
from videos.bilibili_login import request_cookies
from videos.bilibili_replies import (
    absolute_subtitle_url,
    api_error,
    audio_urls_from_playurl,
    bad_response,
    choose_subtitle_track,
    is_ai_subtitle,
    json_envelope,
    subtitle_tracks,
    uploader_chapters_from_player,
    video_info_from_view,
    wbi_key_from_url,
)
from videos.danmaku import danmaku_from_xml, inflate_danmaku
from videos.errors import (
    BILIBILI_UNAVAILABLE,
    DANMAKU_UNAVAILABLE,
    INVALID_LINK,
    RETRY_LATER_SECONDS,
    RISK_CONTROL,
    SUBTITLE_UNAVAILABLE,
)
from videos.links import bv_to_av, find_short_link, is_bilibili_video_url, parse_video_ref, short_link_code, wbi_sign
from videos.transcripts import transcript_from_bcc_json
from videos.types import Transcript, VideoInfo, VideoRef

logger = logging.getLogger(__name__)

BILIBILI_REFERER = "https://www.bilibili.com/"
DEFAULT_HEADERS = {
    "User-Agent": BROWSER_USER_AGENT,
    "Referer": BILIBILI_REFERER,
    "Origin": "https://www.bilibili.com",
}
AUDIO_HEADERS = {"Referer": BILIBILI_REFERER, "User-Agent": BROWSER_USER_AGENT}
WBI_KEYS_MAX_AGE_SECONDS = 30 * 60  # the keys rotate daily; refresh well before that
DASH_FNVAL = 16
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# -352 risk-control check failed, -412 request intercepted, -509 over limit, -799 too frequent.
RISK_CONTROL_CODES = frozenset({-352, -412, -509, -799})

# Web-fingerprint placeholders sent on WBI calls, as bilibili-api does (docs §8). They are
# added before signing. The two strings are base64 of a WebGL version and renderer, minus 2 chars.
DM_FINGERPRINT_PARAMS = {
    "dm_img_list": "[]",
    "dm_img_str": base64.b64encode(b"WebGL 1.0 (OpenGL ES 2.0 Chromium)").decode()[:-2],
    "dm_cover_img_str": base64.b64encode(
        b"ANGLE (Intel, Intel(R) UHD Graphics 630 Direct3D11 vs_5_0 ps_5_0, D3D11)Google Inc. (Intel)"
    ).decode()[:-2],
    "dm_img_inter": '{"ds":[],"wh":[0,0,0],"of":[0,0,0]}',
    "web_location": "1315873",
}


class _TransientFailure(Exception):
    """A failure worth retrying: kind is "risk_control" or "unavailable"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class _StaleWbiKeys(Exception):
    """A signed call was refused (v_voucher or -403): refresh the WBI keys and try once more."""


def _given_up(failure: _TransientFailure) -> AppError:
    kind = RISK_CONTROL if failure.kind == "risk_control" else BILIBILI_UNAVAILABLE
    return AppError(kind, retry_after=RETRY_LATER_SECONDS)


# --- The client ------------------------------------------------------------------------------------


class BilibiliClient:
    """One Bilibili session. Use as `async with BilibiliClient() as bilibili: …`."""

    def __init__(self, *, timeout: float | None = None) -> None:
        self.api_base = settings.BILIBILI_API_BASE.rstrip("/")
        self.comment_base = settings.BILIBILI_COMMENT_BASE.rstrip("/")
        self.shortlink_base = settings.BILIBILI_SHORTLINK_BASE.rstrip("/")
        self.sessdata = settings.BILIBILI_SESSDATA or ""
        self.retry_policy = RetryPolicy(
            attempts=max(1, int(settings.BILIBILI_RETRY_ATTEMPTS)),
            base_delay=max(0.0, float(settings.BILIBILI_RETRY_BASE_DELAY_SECONDS)),
        )
        self.timeout = timeout if timeout is not None else float(settings.BILIBILI_TIMEOUT_SECONDS)
        self._http: httpx.AsyncClient | None = None
        self._wbi_keys: tuple[str, str] | None = None
        self._wbi_keys_fetched_at = 0.0
        self._wbi_lock = asyncio.Lock()
        self._buvid_requested = False
        self._buvid_lock = asyncio.Lock()

    async def __aenter__(self) -> BilibiliClient:
        """Cookies: the login stored by QR in the admin, else BILIBILI_SESSDATA (videos.bilibili_login)."""
        self._http = outbound_client(timeout=self.timeout, headers=DEFAULT_HEADERS)
        cookies = await request_cookies()
        self.sessdata = cookies.get("SESSDATA", "")
        for name, value in cookies.items():
            self._set_cookie(name, value)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("use BilibiliClient as an async context manager")
        return self._http

    def _set_cookie(self, name: str, value: str) -> None:
        """Cookies go to the API and comment hosts only (not to CDNs or b23.tv)."""
        hosts = {urlsplit(base).hostname for base in (self.api_base, self.comment_base)}
        for host in sorted(host for host in hosts if host):
            self.http.cookies.set(name, value, domain=host)

    # --- links ------------------------------------------------------------------------------------

    async def resolve(self, text: str) -> VideoRef:
        """The video named by user text: a random-code b23.tv link if there is one, else any link or id."""
        short_link = find_short_link(text)
        return await self.resolve_short_link(short_link) if short_link else parse_video_ref(text)

    async def resolve_short_link(self, url: str) -> VideoRef:
        """Read the 302 `Location` of a b23.tv link (never followed) and parse it if it is a video page.

        Only the code of the link is used, on BILIBILI_SHORTLINK_BASE: the host in the user's
        text is never contacted.
        """
        code = short_link_code(url)
        if code is None:
            raise AppError(INVALID_LINK, details={"reason": "not_a_short_link"})
        response = await self._retrying(lambda: self._get(f"{self.shortlink_base}/{code}"))
        location = response.headers.get("location", "")
        if response.status_code not in REDIRECT_STATUSES or not location:
            raise AppError(INVALID_LINK, details={"reason": "short_link_expired"})
        if not is_bilibili_video_url(location):
            raise AppError(INVALID_LINK, details={"reason": "short_link_offsite"})
        return parse_video_ref(location)

    # --- metadata, subtitles, audio, danmaku ----------------------------------------------------

    async def fetch_video_info(self, bvid: str) -> VideoInfo:
        bv_to_av(bvid)  # a malformed id fails here, before any request
        data = await self._api_data("/x/web-interface/view", {"bvid": bvid})
        return video_info_from_view(data)

    async def fetch_subtitle(self, aid: int, cid: int, bvid: str) -> Transcript | None:
        """The best subtitle of one part (human Chinese first, then ai-zh, then others), or None."""
        transcript, _ = await self.fetch_subtitle_and_chapters(aid, cid, bvid)
        return transcript

    async def fetch_subtitle_and_chapters(self, aid: int, cid: int, bvid: str) -> tuple[Transcript | None, list[dict]]:
        """One player request: the part's best subtitle (or None) and the uploader's chapters
        (`view_points`, [{"start_ms", "end_ms", "title"}], [] when there are none)."""
        params = {"aid": aid, "bvid": bvid, "cid": cid, **DM_FINGERPRINT_PARAMS}
        data = await self._api_data("/x/player/wbi/v2", params, signed=True)
        return await self._subtitle_of(data, aid=aid, cid=cid, bvid=bvid), uploader_chapters_from_player(data)

    async def _subtitle_of(self, data: dict, *, aid: int, cid: int, bvid: str) -> Transcript | None:
        tracks = subtitle_tracks(data)
        if not tracks and data.get("need_login_subtitle"):
            logger.info("Subtitles of %s/cid %s need a login; set BILIBILI_SESSDATA to get them", bvid, cid)
        track = choose_subtitle_track(tracks, aid=aid, cid=cid)
        url = absolute_subtitle_url(track["subtitle_url"], self.api_base) if track else None
        if track is None or url is None:
            return None
        response = await self._retrying(lambda: self._get(url))
        if response.status_code != 200:
            raise AppError(SUBTITLE_UNAVAILABLE, retry_after=RETRY_LATER_SECONDS, status=response.status_code)
        source = "ai_subtitle" if is_ai_subtitle(track) else "subtitle"
        transcript = transcript_from_bcc_json(response.content, source=source, language=track["lan"])
        return transcript if transcript.cues else None

    async def fetch_audio_urls(self, bvid: str, cid: int) -> list[str]:
        """URLs of the smallest DASH audio stream of one part: baseUrl first, then backups."""
        params: dict[str, Any] = {"bvid": bvid, "cid": cid, "fnval": DASH_FNVAL, "fnver": 0, "fourk": 0}
        if not self.sessdata:  # the docs' guest parameters
            params.update({"try_look": 1, "gaia_source": "pre-load", "isGaiaAvoided": "true"})
        data = await self._api_data("/x/player/wbi/playurl", {**params, **DM_FINGERPRINT_PARAMS}, signed=True)
        return audio_urls_from_playurl(data)

    def download_audio_file(self, urls: Sequence[str]) -> AbstractAsyncContextManager[Path]:
        """`async with bilibili.download_audio_file(urls) as path:` the audio from the first URL that
        works, streamed to a temporary file (at most AUDIO_MAX_BYTES) that is removed after the block."""
        return downloaded_audio(self.http, urls, headers=AUDIO_HEADERS)

    async def download_audio(self, urls: Sequence[str]) -> bytes:
        """The audio bytes from the first URL that works (Referer + browser UA, as the CDN requires).

        Holds the whole file in memory: the pipeline uses `download_audio_file`."""
        async with self.download_audio_file(urls) as path:
            return await asyncio.to_thread(path.read_bytes)

    async def fetch_danmaku(self, cid: int) -> list[tuple[float, str]]:
        """(seconds, text) of the part's current danmaku pool, from comment.bilibili.com/{cid}.xml."""
        await self._ensure_buvid()
        response = await self._retrying(lambda: self._get(f"{self.comment_base}/{int(cid)}.xml"))
        if response.status_code != 200:
            raise AppError(DANMAKU_UNAVAILABLE, status=response.status_code)
        return danmaku_from_xml(inflate_danmaku(response.content))

    # --- requests, retries, WBI keys and buvid --------------------------------------------------

    async def _get(self, url: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """One GET. Risk control (HTTP 412), 5xx, timeouts and network errors raise _TransientFailure."""
        try:
            response = await self.http.get(url, params=params)
        except httpx.TimeoutException as exc:
            raise _TransientFailure("unavailable", f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _TransientFailure("unavailable", f"network error ({type(exc).__name__})") from exc
        except httpx.DecodingError as exc:
            raise bad_response("undecodable body") from exc
        if response.status_code == 412:
            raise _TransientFailure("risk_control", "HTTP 412")
        if response.status_code >= 500:
            raise _TransientFailure("unavailable", f"HTTP {response.status_code}")
        return response

    async def _retrying[T](self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`, retrying transient failures with exponential backoff, then give up."""
        try:
            return await with_retries(
                call,
                policy=self.retry_policy,
                is_retryable=lambda exc: isinstance(exc, _TransientFailure),
                what="Bilibili",
            )
        except _TransientFailure as exc:
            raise _given_up(exc) from exc

    async def _api_data(self, path: str, params: Mapping[str, Any], *, signed: bool = False) -> dict[str, Any]:
        """The `data` of a successful api.bilibili.com reply; errors become AppError."""
        await self._ensure_buvid()
        try:
            return await self._retrying(lambda: self._api_data_once(path, params, signed=signed, keys_fresh=False))
        except _StaleWbiKeys:
            await self._refresh_wbi_keys()
            return await self._retrying(lambda: self._api_data_once(path, params, signed=signed, keys_fresh=True))

    async def _api_data_once(
        self, path: str, params: Mapping[str, Any], *, signed: bool, keys_fresh: bool
    ) -> dict[str, Any]:
        query = await self._signed(params) if signed else dict(params)
        body = json_envelope(await self._get(self.api_base + path, query), path)
        code, data = body["code"], body.get("data")
        voucher = isinstance(data, dict) and "v_voucher" in data
        if signed and not keys_fresh and (voucher or code == -403):
            raise _StaleWbiKeys
        if code in RISK_CONTROL_CODES or voucher:
            raise _TransientFailure("risk_control", f"{path}: code {code}{' with v_voucher' if voucher else ''}")
        if code != 0:
            raise api_error(code, body.get("message"))
        if not isinstance(data, dict):
            raise bad_response(f"{path} data")
        return data

    async def _signed(self, params: Mapping[str, Any]) -> dict[str, str]:
        if self._wbi_keys is None or time.monotonic() - self._wbi_keys_fetched_at > WBI_KEYS_MAX_AGE_SECONDS:
            await self._refresh_wbi_keys()
        assert self._wbi_keys is not None
        img_key, sub_key = self._wbi_keys
        return wbi_sign(params, img_key, sub_key, int(time.time()))

    async def _refresh_wbi_keys(self) -> None:
        """Read the keys from x/web-interface/nav (a guest gets code -101 but still the keys)."""
        async with self._wbi_lock:
            self._wbi_keys = await self._retrying(self._nav_wbi_keys)
            self._wbi_keys_fetched_at = time.monotonic()

    async def _nav_wbi_keys(self) -> tuple[str, str]:
        body = json_envelope(await self._get(self.api_base + "/x/web-interface/nav"), "nav")
        if body["code"] in RISK_CONTROL_CODES:
            raise _TransientFailure("risk_control", f"nav: code {body['code']}")
        data = body.get("data")
        wbi_img = data.get("wbi_img") if isinstance(data, dict) else None
        if not isinstance(wbi_img, dict):
            raise bad_response("nav.wbi_img")
        img_key, sub_key = wbi_key_from_url(wbi_img.get("img_url")), wbi_key_from_url(wbi_img.get("sub_url"))
        if img_key is None or sub_key is None:
            raise bad_response("nav.wbi_img")
        return img_key, sub_key

    async def _ensure_buvid(self) -> None:
        """Get buvid3/buvid4 from finger/spi once per client; best effort, a failure is only logged."""
        async with self._buvid_lock:
            if self._buvid_requested:
                return
            self._buvid_requested = True
            try:
                body = json_envelope(await self._get(self.api_base + "/x/frontend/finger/spi"), "finger/spi")
            except (_TransientFailure, AppError) as exc:
                logger.warning("No buvid3/buvid4 from finger/spi (%s); going on without them", exc)
                return
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            for cookie, key in (("buvid3", "b_3"), ("buvid4", "b_4")):
                value = data.get(key)
                if isinstance(value, str) and value:
                    self._set_cookie(cookie, value)

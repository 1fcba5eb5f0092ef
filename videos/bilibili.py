"""The one module that talks to Bilibili: api.bilibili.com, comment.bilibili.com and b23.tv.

`BilibiliClient` is one session per ingestion: one HTTP client with one cookie jar (SESSDATA when
configured, buvid3/buvid4 fetched once), cached WBI keys, and retries with exponential backoff
for risk control (HTTP 412, -352, …), timeouts and 5xx. Everything that fails ends as a
`VideoError` whose `permanent` flag says whether trying again later can help.

    async with BilibiliClient() as bilibili:
        ref = await bilibili.resolve(user_text)
        info = await bilibili.fetch_video_info(ref.bvid)

Endpoints, wire shapes and risk-control behaviour follow docs/bilibili-api.md.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from core.http import BROWSER_USER_AGENT, outbound_client
from videos.errors import InvalidLinkError, VideoError
from videos.links import (
    bv_to_av,
    find_short_link,
    is_bilibili_video_url,
    parse_video_ref,
    short_link_code,
    wbi_sign,
)
from videos.transcripts import transcript_from_bcc_json
from videos.types import PartInfo, Transcript, VideoInfo, VideoRef

logger = logging.getLogger(__name__)

BILIBILI_REFERER = "https://www.bilibili.com/"
DEFAULT_HEADERS = {
    "User-Agent": BROWSER_USER_AGENT,
    "Referer": BILIBILI_REFERER,
    "Origin": "https://www.bilibili.com",
}
WBI_KEYS_MAX_AGE_SECONDS = 30 * 60  # the keys rotate daily; refresh well before that
DASH_FNVAL = 16
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# -352 risk-control check failed, -412 request intercepted, -509 over limit, -799 too frequent.
RISK_CONTROL_CODES = frozenset({-352, -412, -509, -799})
HUMAN_CHINESE_LANGUAGES = ("zh-CN", "zh-Hans", "zh")
MAX_DANMAKU_XML_BYTES = 64 * 1024 * 1024

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

# Non-zero `code` values that mean "this video cannot be had", with user-facing messages.
PERMANENT_API_ERRORS: dict[int, tuple[str, str, str]] = {
    -400: ("bad_request", "请求错误，哔哩哔哩无法处理该请求", "Bilibili rejected the request as malformed"),
    -101: ("login_required", "需要登录，请设置 BILIBILI_SESSDATA", "Bilibili requires a login; set BILIBILI_SESSDATA"),
    -403: (
        "access_denied",
        "权限不足：该视频可能需要登录（BILIBILI_SESSDATA）或大会员",
        "Access denied: the video may need a login (BILIBILI_SESSDATA) or a membership",
    ),
    -404: (
        "video_not_found",
        "视频不存在，可能已被删除或有地区限制",
        "The video does not exist; it may have been deleted or be geo-restricted",
    ),
    -688: ("geo_restricted", "该视频在当前地区不可观看", "The video is not available in this region"),
    -689: ("copyright_restricted", "该视频因版权原因不可观看", "The video is unavailable for copyright reasons"),
    -10403: ("members_only", "该视频仅限大会员观看", "Only premium members can watch this video"),
    62002: ("video_private", "稿件不可见", "The video is private or hidden"),
    62004: ("video_under_review", "稿件审核中", "The video is still under review"),
    62012: ("video_owner_only", "仅UP主自己可见", "Only the uploader can see this video"),
}


class _TransientFailure(Exception):
    """A failure worth retrying: kind is "risk_control" or "unavailable"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class _StaleWbiKeys(Exception):
    """A signed call was refused (v_voucher or -403): refresh the WBI keys and try once more."""


def _risk_control_error() -> VideoError:
    return VideoError(
        "risk_control",
        "哔哩哔哩风控拦截了请求，请稍后再试；设置 BILIBILI_SESSDATA（登录 Cookie）可降低被拦截的概率",
        "Bilibili's risk control blocked the request; try again later. "
        "Setting BILIBILI_SESSDATA (a logged-in cookie) makes this less likely",
        permanent=False,
    )


def _unavailable_error() -> VideoError:
    return VideoError(
        "bilibili_unavailable",
        "暂时无法连接哔哩哔哩（超时或服务器错误），请稍后再试",
        "Bilibili could not be reached (timeout or server error); try again later",
        permanent=False,
    )


def _bad_response(what: str) -> VideoError:
    return VideoError(
        "bad_response",
        f"哔哩哔哩返回了无法识别的数据（{what}）",
        f"Bilibili sent a reply ChatBili does not understand ({what})",
        permanent=False,
    )


def _api_error(code: int, message: Any) -> VideoError:
    if code in PERMANENT_API_ERRORS:
        error_code, message_zh, message_en = PERMANENT_API_ERRORS[code]
        return VideoError(error_code, message_zh, message_en, permanent=True)
    detail = str(message or "")[:200]
    return VideoError(
        "bilibili_error",
        f"哔哩哔哩返回错误 {code}：{detail}",
        f"Bilibili answered with error {code}: {detail}",
        permanent=True,
    )


# --- Reading replies -------------------------------------------------------------------------------


def _json_envelope(response: httpx.Response, what: str) -> dict[str, Any]:
    """The `{code, message, data}` wrapper of an API reply, or a VideoError."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int) and not isinstance(body["code"], bool):
        return body
    if response.status_code != 200:
        status = response.status_code
        raise VideoError(
            "bilibili_http_error",
            f"哔哩哔哩返回 HTTP {status}（{what}）",
            f"Bilibili answered HTTP {status} ({what})",
            permanent=True,
        )
    raise _bad_response(what)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _required_int(data: Mapping[str, Any], key: str, what: str) -> int:
    value = _int_or_none(data.get(key))
    if value is None:
        raise _bad_response(f"{what}.{key}")
    return value


def _str_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _https_url(url: str) -> str:
    """Cover URLs come as http:// or //; the image hosts serve https."""
    if url.startswith("//"):
        return "https:" + url
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url


def _parts_from_view(data: Mapping[str, Any]) -> list[PartInfo]:
    pages = data.get("pages")
    if not isinstance(pages, list) or not pages:
        raise _bad_response("view.pages")
    parts = []
    for index, page in enumerate(pages, start=1):
        if not isinstance(page, dict):
            raise _bad_response("view.pages")
        parts.append(
            PartInfo(
                page=_int_or_none(page.get("page")) or index,
                cid=_required_int(page, "cid", "view.pages"),
                title=_str_or_empty(page.get("part")),
                duration_seconds=max(0, _int_or_none(page.get("duration")) or 0),
            )
        )
    return parts


def video_info_from_view(data: Mapping[str, Any]) -> VideoInfo:
    """VideoInfo from the `data` of x/web-interface/view."""
    bvid, title = data.get("bvid"), data.get("title")
    if not isinstance(bvid, str) or not isinstance(title, str):
        raise _bad_response("view.bvid/title")
    owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
    stat = data.get("stat") if isinstance(data.get("stat"), dict) else {}
    parts = _parts_from_view(data)
    return VideoInfo(
        bvid=bvid,
        aid=_required_int(data, "aid", "view"),
        title=title,
        description=_str_or_empty(data.get("desc")),
        owner_mid=_int_or_none(owner.get("mid")),
        owner_name=_str_or_empty(owner.get("name")),
        cover_url=_https_url(_str_or_empty(data.get("pic"))),
        duration_seconds=_int_or_none(data.get("duration")) or sum(part.duration_seconds for part in parts),
        published_at=_int_or_none(data.get("pubdate")),
        stats={key: value for key, value in stat.items() if _int_or_none(value) is not None},
        parts=parts,
    )


# --- Subtitles -------------------------------------------------------------------------------------


def subtitle_tracks(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The usable tracks (with `lan` and a non-empty `subtitle_url`) of an x/player/wbi/v2 reply."""
    subtitle = data.get("subtitle")
    items = subtitle.get("subtitles") if isinstance(subtitle, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise _bad_response("player.subtitle.subtitles")
    return [
        item
        for item in items
        if isinstance(item, dict) and _str_or_empty(item.get("lan")) and _str_or_empty(item.get("subtitle_url"))
    ]


def is_ai_subtitle(track: Mapping[str, Any]) -> bool:
    path = urlsplit(track["subtitle_url"]).path
    return track["lan"].startswith("ai-") or "/ai_subtitle/" in path


def ai_subtitle_matches(url: str, aid: int, cid: int) -> bool:
    """An AI subtitle file's path starts with aid then cid (…/ai_subtitle/prod/<aid><cid>…).

    This observed pattern (docs §5.1) guards against tracks of other videos. A URL that does not
    follow it cannot be checked and is rejected too: a missing transcript is recoverable (ASR),
    a transcript of another video is not.
    """
    segments = urlsplit(url).path.split("/")
    if "ai_subtitle" not in segments:
        return False
    after = segments[segments.index("ai_subtitle") + 1 :]
    return any(segment.startswith(f"{aid}{cid}") for segment in after)


def _subtitle_rank(track: Mapping[str, Any]) -> int:
    """Lower is better: human zh-CN, zh-Hans, zh, other zh-*, then ai-zh, other human, other AI."""
    lan = track["lan"]
    if is_ai_subtitle(track):
        return 4 if lan.startswith("ai-zh") else 6
    if lan in HUMAN_CHINESE_LANGUAGES:
        return HUMAN_CHINESE_LANGUAGES.index(lan)
    return 3 if lan.lower().startswith("zh") else 5


def choose_subtitle_track(tracks: Sequence[Mapping[str, Any]], *, aid: int, cid: int) -> Mapping[str, Any] | None:
    """The best track for this part, skipping AI tracks that belong to another video."""
    candidates = []
    for track in tracks:
        if is_ai_subtitle(track) and not ai_subtitle_matches(track["subtitle_url"], aid, cid):
            logger.warning("Ignoring AI subtitle %s: it does not belong to av%s/cid %s", track["lan"], aid, cid)
            continue
        candidates.append(track)
    return min(candidates, key=_subtitle_rank, default=None)


def absolute_subtitle_url(url: str, api_base: str) -> str | None:
    """subtitle_url is protocol-relative (//host/…): give it the scheme of the API base."""
    if url.startswith("//"):
        return f"{urlsplit(api_base).scheme or 'https'}:{url}"
    return url if url.startswith(("http://", "https://")) else None


# --- Audio -----------------------------------------------------------------------------------------


def _stream_size(stream: Mapping[str, Any]) -> tuple[float, int]:
    size = _int_or_none(stream.get("bandwidth")) or _int_or_none(stream.get("size"))
    return (math.inf if size is None else size, _int_or_none(stream.get("id")) or 0)


def _stream_urls(stream: Mapping[str, Any]) -> list[str]:
    main = stream.get("baseUrl") or stream.get("base_url") or stream.get("url")
    backups = stream.get("backupUrl") or stream.get("backup_url") or []
    candidates = [main, *(backups if isinstance(backups, list) else [])]
    urls: list[str] = []
    for url in candidates:
        if isinstance(url, str) and url.startswith(("http://", "https://")) and url not in urls:
            urls.append(url)
    return urls


def audio_urls_from_playurl(data: Mapping[str, Any]) -> list[str]:
    """The smallest DASH audio stream of a playurl reply: its baseUrl, then its backupUrls."""
    dash = data.get("dash")
    if not isinstance(dash, dict):
        raise _bad_response("playurl.dash")
    audio = dash.get("audio")
    streams = [stream for stream in audio if isinstance(stream, dict)] if isinstance(audio, list) else []
    if not streams:
        raise VideoError("no_audio", "该视频没有音轨", "The video has no audio track", permanent=True)
    urls = _stream_urls(min(streams, key=_stream_size))
    if not urls:
        raise _bad_response("playurl.dash.audio.baseUrl")
    return urls


# --- Danmaku ---------------------------------------------------------------------------------------

# Danmaku XML is read with a regular expression, not an XML parser: real files sometimes hold
# control characters that are not valid XML, and a regex cannot expand entities.
_DANMAKU_LINE = re.compile(r"""<d\s+p=(["'])(?P<p>[^"']*)\1\s*>(?P<text>.*?)</d>""", re.DOTALL)


def inflate_danmaku(body: bytes) -> bytes:
    """The XML of a danmaku reply: plain, raw deflate (what Bilibili sends), zlib or gzip."""
    if body.lstrip().startswith((b"<", b"\xef\xbb\xbf")):
        return body
    for wbits in (-zlib.MAX_WBITS, zlib.MAX_WBITS, zlib.MAX_WBITS | 16):
        inflater = zlib.decompressobj(wbits)
        try:
            xml = inflater.decompress(body, MAX_DANMAKU_XML_BYTES)
        except zlib.error:
            continue
        if inflater.unconsumed_tail:
            raise VideoError("bad_danmaku", "弹幕数据过大", "The danmaku reply is too large", permanent=True)
        return xml
    raise VideoError("bad_danmaku", "弹幕数据无法解压", "The danmaku reply could not be decompressed", permanent=False)


def danmaku_from_xml(xml: bytes | str) -> list[tuple[float, str]]:
    """(seconds into the part, text) for every `<d p="time,mode,…">text</d>`, sorted by time."""
    text = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else xml
    items = []
    for match in _DANMAKU_LINE.finditer(text):
        fields = match.group("p").split(",")
        try:
            seconds = float(fields[0])
        except ValueError:
            continue
        content = html.unescape(match.group("text")).strip()
        if len(fields) >= 8 and math.isfinite(seconds) and seconds >= 0 and content:
            items.append((seconds, content))
    items.sort(key=lambda item: item[0])
    return items


def danmaku_summary(
    items: Sequence[tuple[float, str]],
    bucket_seconds: int = 10,
    top: int = 5,
    *,
    duration_seconds: float | None = None,
) -> dict[str, Any]:
    """Danmaku per time bucket, for highlight detection (stored in VideoPart.danmaku).

    {"bucket_seconds": 10, "counts": [n per bucket], "top_texts": [[[text, count], …] per
    bucket], "total": n}. With `duration_seconds`, the buckets cover the whole part.
    """
    if bucket_seconds <= 0 or top < 0:
        raise ValueError("bucket_seconds must be positive and top must not be negative")
    bucket_count = max((int(max(0.0, seconds) // bucket_seconds) + 1 for seconds, _ in items), default=0)
    if duration_seconds:
        bucket_count = max(bucket_count, math.ceil(duration_seconds / bucket_seconds))
    counts = [0] * bucket_count
    texts = [Counter[str]() for _ in range(bucket_count)]
    for seconds, text in items:
        bucket = int(max(0.0, seconds) // bucket_seconds)
        counts[bucket] += 1
        texts[bucket][text.strip()] += 1
    return {
        "bucket_seconds": bucket_seconds,
        "counts": counts,
        "top_texts": [[[text, count] for text, count in counter.most_common(top)] for counter in texts],
        "total": len(items),
    }


def _wbi_key_from_url(url: Any) -> str | None:
    """nav's wbi_img URLs are disguised keys: the file name without extension (never fetched)."""
    name = _str_or_empty(url).rsplit("/", 1)[-1].split(".", 1)[0]
    return name if re.fullmatch(r"[0-9A-Za-z]{32}", name) else None


# --- The client ------------------------------------------------------------------------------------


class BilibiliClient:
    """One Bilibili session. Use as `async with BilibiliClient() as bilibili: …`."""

    def __init__(self, *, timeout: float | None = None) -> None:
        self.api_base = settings.BILIBILI_API_BASE.rstrip("/")
        self.comment_base = settings.BILIBILI_COMMENT_BASE.rstrip("/")
        self.shortlink_base = settings.BILIBILI_SHORTLINK_BASE.rstrip("/")
        self.sessdata = settings.BILIBILI_SESSDATA or ""
        self.retry_attempts = max(1, int(settings.BILIBILI_RETRY_ATTEMPTS))
        self.retry_base_delay = max(0.0, float(settings.BILIBILI_RETRY_BASE_DELAY_SECONDS))
        self.timeout = timeout if timeout is not None else float(settings.BILIBILI_TIMEOUT_SECONDS)
        self._http: httpx.AsyncClient | None = None
        self._wbi_keys: tuple[str, str] | None = None
        self._wbi_keys_fetched_at = 0.0
        self._wbi_lock = asyncio.Lock()
        self._buvid_requested = False
        self._buvid_lock = asyncio.Lock()

    async def __aenter__(self) -> BilibiliClient:
        self._http = outbound_client(timeout=self.timeout, headers=DEFAULT_HEADERS)
        if self.sessdata:
            self._set_cookie("SESSDATA", self.sessdata)
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
            raise InvalidLinkError("不是 b23.tv 短链接", "Not a b23.tv short link")
        response = await self._retrying(lambda: self._get(f"{self.shortlink_base}/{code}"))
        location = response.headers.get("location", "")
        if response.status_code not in REDIRECT_STATUSES or not location:
            raise InvalidLinkError("短链接无效或已过期", "The short link is invalid or has expired")
        if not is_bilibili_video_url(location):
            raise InvalidLinkError("短链接指向的不是哔哩哔哩视频", "The short link does not point to a Bilibili video")
        return parse_video_ref(location)

    # --- metadata, subtitles, audio, danmaku ----------------------------------------------------

    async def fetch_video_info(self, bvid: str) -> VideoInfo:
        bv_to_av(bvid)  # a malformed id fails here, before any request
        data = await self._api_data("/x/web-interface/view", {"bvid": bvid})
        return video_info_from_view(data)

    async def fetch_subtitle(self, aid: int, cid: int, bvid: str) -> Transcript | None:
        """The best subtitle of one part (human Chinese first, then ai-zh, then others), or None."""
        params = {"aid": aid, "bvid": bvid, "cid": cid, **DM_FINGERPRINT_PARAMS}
        data = await self._api_data("/x/player/wbi/v2", params, signed=True)
        tracks = subtitle_tracks(data)
        if not tracks and data.get("need_login_subtitle"):
            logger.info("Subtitles of %s/cid %s need a login; set BILIBILI_SESSDATA to get them", bvid, cid)
        track = choose_subtitle_track(tracks, aid=aid, cid=cid)
        url = absolute_subtitle_url(track["subtitle_url"], self.api_base) if track else None
        if track is None or url is None:
            return None
        response = await self._retrying(lambda: self._get(url))
        if response.status_code != 200:
            raise VideoError(
                "subtitle_unavailable",
                f"字幕文件下载失败（HTTP {response.status_code}），请稍后再试",
                f"The subtitle file could not be downloaded (HTTP {response.status_code}); try again later",
                permanent=False,
            )
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

    async def download_audio(self, urls: Sequence[str]) -> bytes:
        """The audio bytes from the first URL that works (Referer + browser UA, as the CDN requires)."""
        headers = {"Referer": BILIBILI_REFERER, "User-Agent": BROWSER_USER_AGENT}
        for url in urls:
            try:
                response = await self.http.get(url, headers=headers, follow_redirects=True)
            except httpx.HTTPError as exc:
                logger.warning("Audio download from %s failed: %r", urlsplit(url).hostname, exc)
                continue
            if response.status_code in (200, 206) and response.content:
                return response.content
            logger.warning("Audio download from %s failed: HTTP %s", urlsplit(url).hostname, response.status_code)
        raise VideoError(
            "audio_download_failed",
            "无法下载视频音频，请稍后再试",
            "The video's audio could not be downloaded from any mirror; try again later",
            permanent=False,
        )

    async def fetch_danmaku(self, cid: int) -> list[tuple[float, str]]:
        """(seconds, text) of the part's current danmaku pool, from comment.bilibili.com/{cid}.xml."""
        await self._ensure_buvid()
        response = await self._retrying(lambda: self._get(f"{self.comment_base}/{int(cid)}.xml"))
        if response.status_code != 200:
            raise VideoError(
                "danmaku_unavailable",
                f"无法获取弹幕（HTTP {response.status_code}）",
                f"The danmaku could not be fetched (HTTP {response.status_code})",
                permanent=True,
            )
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
            raise _bad_response("undecodable body") from exc
        if response.status_code == 412:
            raise _TransientFailure("risk_control", "HTTP 412")
        if response.status_code >= 500:
            raise _TransientFailure("unavailable", f"HTTP {response.status_code}")
        return response

    async def _retrying[T](self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`, retrying transient failures with exponential backoff, then give up."""
        failure: _TransientFailure | None = None
        for attempt in range(self.retry_attempts):
            if attempt:
                await asyncio.sleep(self.retry_base_delay * 2 ** (attempt - 1))
            try:
                return await call()
            except _TransientFailure as exc:
                failure = exc
                logger.warning("Bilibili: %s (attempt %d of %d)", exc.detail, attempt + 1, self.retry_attempts)
        if failure is not None and failure.kind == "risk_control":
            raise _risk_control_error()
        raise _unavailable_error()

    async def _api_data(self, path: str, params: Mapping[str, Any], *, signed: bool = False) -> dict[str, Any]:
        """The `data` of a successful api.bilibili.com reply; errors become VideoError."""
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
        body = _json_envelope(await self._get(self.api_base + path, query), path)
        code, data = body["code"], body.get("data")
        voucher = isinstance(data, dict) and "v_voucher" in data
        if signed and not keys_fresh and (voucher or code == -403):
            raise _StaleWbiKeys
        if code in RISK_CONTROL_CODES or voucher:
            raise _TransientFailure("risk_control", f"{path}: code {code}{' with v_voucher' if voucher else ''}")
        if code != 0:
            raise _api_error(code, body.get("message"))
        if not isinstance(data, dict):
            raise _bad_response(f"{path} data")
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
        body = _json_envelope(await self._get(self.api_base + "/x/web-interface/nav"), "nav")
        if body["code"] in RISK_CONTROL_CODES:
            raise _TransientFailure("risk_control", f"nav: code {body['code']}")
        data = body.get("data")
        wbi_img = data.get("wbi_img") if isinstance(data, dict) else None
        if not isinstance(wbi_img, dict):
            raise _bad_response("nav.wbi_img")
        img_key, sub_key = _wbi_key_from_url(wbi_img.get("img_url")), _wbi_key_from_url(wbi_img.get("sub_url"))
        if img_key is None or sub_key is None:
            raise _bad_response("nav.wbi_img")
        return img_key, sub_key

    async def _ensure_buvid(self) -> None:
        """Get buvid3/buvid4 from finger/spi once per client; best effort, a failure is only logged."""
        async with self._buvid_lock:
            if self._buvid_requested:
                return
            self._buvid_requested = True
            try:
                body = _json_envelope(await self._get(self.api_base + "/x/frontend/finger/spi"), "finger/spi")
            except (_TransientFailure, VideoError) as exc:
                logger.warning("No buvid3/buvid4 from finger/spi (%s); going on without them", exc)
                return
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            for cookie, key in (("buvid3", "b_3"), ("buvid4", "b_4")):
                value = data.get(key)
                if isinstance(value, str) and value:
                    self._set_cookie(cookie, value)

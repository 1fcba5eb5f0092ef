"""Reading Bilibili's replies: the `{code, message, data}` envelope, video metadata, subtitle
tracks and the DASH audio streams of playurl. Pure functions; the client is videos.bilibili.

Wire shapes follow docs/bilibili-api.md.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.errors import AppError
from videos.errors import (
    ACCESS_DENIED,
    BAD_RESPONSE,
    BILIBILI_BAD_REQUEST,
    BILIBILI_ERROR,
    BILIBILI_HTTP_ERROR,
    COPYRIGHT_RESTRICTED,
    GEO_RESTRICTED,
    LOGIN_REQUIRED,
    MEMBERS_ONLY,
    NO_AUDIO,
    UPOWER_EXCLUSIVE,
    VIDEO_NOT_FOUND,
    VIDEO_OWNER_ONLY,
    VIDEO_PRIVATE,
    VIDEO_UNDER_REVIEW,
)
from videos.types import PartInfo, VideoInfo

logger = logging.getLogger(__name__)

HUMAN_CHINESE_LANGUAGES = ("zh-CN", "zh-Hans", "zh")

# Non-zero `code` values that mean "this video cannot be had" (risk control and server trouble,
# -352/-412/-509/-799 and 5xx, are retried by videos.bilibili and end as RISK_CONTROL or
# BILIBILI_UNAVAILABLE). 87007/87008: 充电专属, the uploader's paying supporters only.
PERMANENT_API_ERRORS = {
    -400: BILIBILI_BAD_REQUEST,
    -401: BILIBILI_BAD_REQUEST,
    -101: LOGIN_REQUIRED,
    -403: ACCESS_DENIED,
    -404: VIDEO_NOT_FOUND,
    -688: GEO_RESTRICTED,
    -689: COPYRIGHT_RESTRICTED,
    -10403: MEMBERS_ONLY,
    62002: VIDEO_PRIVATE,
    62004: VIDEO_UNDER_REVIEW,
    62012: VIDEO_OWNER_ONLY,
    87007: UPOWER_EXCLUSIVE,
    87008: UPOWER_EXCLUSIVE,
}


def bad_response(what: str) -> AppError:
    return AppError(BAD_RESPONSE, what=what)


def api_error(code: int, message: Any) -> AppError:
    """The error for a non-zero `code` that is not risk control."""
    if code in PERMANENT_API_ERRORS:
        return AppError(PERMANENT_API_ERRORS[code], details={"bilibili_code": code})
    detail = str(message or "")[:200]
    return AppError(
        BILIBILI_ERROR, details={"bilibili_code": code, "bilibili_message": detail}, code=code, detail=detail
    )


def json_envelope(response: httpx.Response, what: str) -> dict[str, Any]:
    """The `{code, message, data}` wrapper of an API reply, or an AppError."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int) and not isinstance(body["code"], bool):
        return body
    if response.status_code != 200:
        raise AppError(BILIBILI_HTTP_ERROR, status=response.status_code, what=what)
    raise bad_response(what)


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _required_int(data: Mapping[str, Any], key: str, what: str) -> int:
    value = int_or_none(data.get(key))
    if value is None:
        raise bad_response(f"{what}.{key}")
    return value


def str_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _https_url(url: str) -> str:
    """Cover URLs come as http:// or //; the image hosts serve https."""
    if url.startswith("//"):
        return "https:" + url
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url


def wbi_key_from_url(url: Any) -> str | None:
    """nav's wbi_img URLs are disguised keys: the file name without extension (never fetched)."""
    name = str_or_empty(url).rsplit("/", 1)[-1].split(".", 1)[0]
    return name if re.fullmatch(r"[0-9A-Za-z]{32}", name) else None


# --- Metadata --------------------------------------------------------------------------------------


def _parts_from_view(data: Mapping[str, Any]) -> list[PartInfo]:
    pages = data.get("pages")
    if not isinstance(pages, list) or not pages:
        raise bad_response("view.pages")
    parts = []
    for index, page in enumerate(pages, start=1):
        if not isinstance(page, dict):
            raise bad_response("view.pages")
        parts.append(
            PartInfo(
                page=int_or_none(page.get("page")) or index,
                cid=_required_int(page, "cid", "view.pages"),
                title=str_or_empty(page.get("part")),
                duration_seconds=max(0, int_or_none(page.get("duration")) or 0),
            )
        )
    return parts


def video_info_from_view(data: Mapping[str, Any]) -> VideoInfo:
    """VideoInfo from the `data` of x/web-interface/view."""
    bvid, title = data.get("bvid"), data.get("title")
    if not isinstance(bvid, str) or not isinstance(title, str):
        raise bad_response("view.bvid/title")
    owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
    stat = data.get("stat") if isinstance(data.get("stat"), dict) else {}
    parts = _parts_from_view(data)
    return VideoInfo(
        bvid=bvid,
        aid=_required_int(data, "aid", "view"),
        title=title,
        description=str_or_empty(data.get("desc")),
        owner_mid=int_or_none(owner.get("mid")),
        owner_name=str_or_empty(owner.get("name")),
        cover_url=_https_url(str_or_empty(data.get("pic"))),
        duration_seconds=int_or_none(data.get("duration")) or sum(part.duration_seconds for part in parts),
        published_at=int_or_none(data.get("pubdate")),
        stats={key: value for key, value in stat.items() if int_or_none(value) is not None},
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
        raise bad_response("player.subtitle.subtitles")
    return [
        item
        for item in items
        if isinstance(item, dict) and str_or_empty(item.get("lan")) and str_or_empty(item.get("subtitle_url"))
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


# --- Uploader chapters ------------------------------------------------------------------------------

VIEW_POINT_CHAPTER = 2


def uploader_chapters_from_player(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The uploader's chapters (`view_points` of type 2) of an x/player/wbi/v2 reply, in time order:
    [{"start_ms", "end_ms", "title"}]. Malformed or empty items are skipped; none gives []."""
    items = data.get("view_points")
    if not isinstance(items, list):
        return []
    chapters = []
    for item in items:
        if not isinstance(item, dict) or int_or_none(item.get("type")) not in (None, VIEW_POINT_CHAPTER):
            continue
        start, end = int_or_none(item.get("from")), int_or_none(item.get("to"))
        title = str_or_empty(item.get("content"))
        if start is None or start < 0 or not title.strip():
            continue
        end_ms = end * 1000 if end is not None and end > start else start * 1000
        chapters.append({"start_ms": start * 1000, "end_ms": end_ms, "title": title.strip()[:200]})
    return sorted(chapters, key=lambda chapter: chapter["start_ms"])


# --- Audio -----------------------------------------------------------------------------------------


def _stream_size(stream: Mapping[str, Any]) -> tuple[float, int]:
    size = int_or_none(stream.get("bandwidth")) or int_or_none(stream.get("size"))
    return (math.inf if size is None else size, int_or_none(stream.get("id")) or 0)


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
        raise bad_response("playurl.dash")
    audio = dash.get("audio")
    streams = [stream for stream in audio if isinstance(stream, dict)] if isinstance(audio, list) else []
    if not streams:
        raise AppError(NO_AUDIO)
    urls = _stream_urls(min(streams, key=_stream_size))
    if not urls:
        raise bad_response("playurl.dash.audio.baseUrl")
    return urls

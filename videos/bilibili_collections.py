"""Bilibili's collection listings: a multi-part video's pages, an uploader's 合集 (ugc_season),
a series and a favourites folder; and the links that name them.

Endpoints, page sizes and shapes follow docs/bilibili-api.md §14 (shared/docs). Requests go
through the one Bilibili session (videos.bilibili.BilibiliClient): same cookies (SESSDATA for a
private favourites folder), retries and risk-control handling.

    async with BilibiliClient() as client:
        ref = await collection_ref_resolve(client, text)
        listing = await collection_listing_fetch(client, ref, limit=100)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from core.errors import AppError
from videos.bilibili import BilibiliClient
from videos.bilibili_replies import bad_response, int_or_none, str_or_empty
from videos.errors import FAVOURITES_PRIVATE, INVALID_COLLECTION_LINK, INVALID_LINK
from videos.links import _split_url

SEASON_PAGE_SIZE = 30  # seasons_archives_list and series/archives (§14.1)
FAVOURITES_PAGE_SIZE = 20  # x/v3/fav/resource/list: ps at most 20 (§14.2)
MAX_LISTING_PAGES = 50  # a listing that never ends is cut off here
FAVOURITES_VIDEO_TYPE = 2

PARTS, SEASON, SERIES, FAVOURITES = "parts", "season", "series", "favourites"  # Collection.Kind values

_DIGITS = re.compile(r"\d{1,19}")
_SPACE_LISTS = re.compile(r"/(?P<mid>\d{1,19})/lists/(?P<id>\d{1,19})/?")
_SPACE_CHANNEL = re.compile(r"/(?P<mid>\d{1,19})/channel/(?P<which>collectiondetail|seriesdetail)/?")
_SPACE_FAVLIST = re.compile(r"/(?P<mid>\d{1,19})/favlist/?")
_MEDIALIST = re.compile(r"/medialist/detail/ml(?P<id>\d{1,19})/?")
_BARE_FAVOURITES = re.compile(r"ml(?P<id>\d{1,19})", re.IGNORECASE)


@dataclass(frozen=True)
class CollectionRef:
    """What a collection link names: its kind, Bilibili id and (for space links) the uploader's mid."""

    kind: str
    source_id: str
    mid: int | None = None
    page: int = 1  # for a video link: the part it named

    @property
    def source_url(self) -> str:
        if self.kind == PARTS:
            return f"https://www.bilibili.com/video/{self.source_id}"
        if self.kind == FAVOURITES:
            return f"https://www.bilibili.com/medialist/detail/ml{self.source_id}"
        return f"https://space.bilibili.com/{self.mid or 0}/lists/{self.source_id}?type={self.kind}"


@dataclass
class ListedVideo:
    """One video a listing names; `pages` is its part count when the listing says (favourites, view)."""

    bvid: str
    title: str
    pages: int = 1
    page_titles: list[str] = field(default_factory=list)
    unavailable: bool = False  # a favourites entry Bilibili marks invalid (deleted, 已失效视频)


@dataclass
class CollectionListing:
    title: str
    uploader_mid: int | None
    uploader_name: str
    total: int  # videos the source lists (may be more than were read)
    videos: list[ListedVideo]


# --- links ----------------------------------------------------------------------------------------


def collection_ref_from_text(text: str) -> CollectionRef | None:
    """The collection a space/favourites link (or `ml<id>`) names; None when it is not one."""
    stripped = (text or "").strip()
    if match := _BARE_FAVOURITES.fullmatch(stripped):
        return CollectionRef(FAVOURITES, match.group("id"))
    split = _split_url(stripped.split()[0]) if stripped else None
    if split is None:
        return None
    _, host, path, query = split
    params = {key: values[0] for key, values in parse_qs(query).items() if values}
    if host == "space.bilibili.com":
        return _space_ref(path, params)
    if host.endswith("bilibili.com") and (match := _MEDIALIST.fullmatch(path)):
        return CollectionRef(FAVOURITES, match.group("id"))
    return None


def _space_ref(path: str, params: Mapping[str, str]) -> CollectionRef | None:
    if match := _SPACE_LISTS.fullmatch(path):
        kind = SERIES if params.get("type") == SERIES else SEASON
        return CollectionRef(kind, match.group("id"), int(match.group("mid")))
    if (match := _SPACE_CHANNEL.fullmatch(path)) and _DIGITS.fullmatch(params.get("sid", "")):
        kind = SEASON if match.group("which") == "collectiondetail" else SERIES
        return CollectionRef(kind, params["sid"], int(match.group("mid")))
    if (match := _SPACE_FAVLIST.fullmatch(path)) and _DIGITS.fullmatch(params.get("fid", "")):
        return CollectionRef(FAVOURITES, params["fid"], int(match.group("mid")))
    return None


async def collection_ref_resolve(client: BilibiliClient, text: str) -> CollectionRef:
    """A collection link, or a video link (b23.tv too): a multi-part video is its parts, a
    single video in a 合集 is that 合集. Anything else raises AppError(INVALID_COLLECTION_LINK)."""
    ref = collection_ref_from_text(text)
    if ref is not None:
        return ref
    try:
        video_ref = await client.resolve(text)
    except AppError as exc:
        if exc.kind is INVALID_LINK:
            raise AppError(INVALID_COLLECTION_LINK, details={"reason": "not_a_collection_link"}) from exc
        raise
    view = await client._api_data("/x/web-interface/view", {"bvid": video_ref.bvid})
    season = view.get("ugc_season") if isinstance(view.get("ugc_season"), dict) else None
    pages = view.get("pages") if isinstance(view.get("pages"), list) else []
    if len(pages) <= 1 and season and int_or_none(season.get("id")):
        return CollectionRef(SEASON, str(season["id"]), int_or_none(season.get("mid")))
    return CollectionRef(PARTS, video_ref.bvid, page=video_ref.page)


# --- listings -------------------------------------------------------------------------------------


async def collection_listing_fetch(client: BilibiliClient, ref: CollectionRef, *, limit: int) -> CollectionListing:
    """The collection's title, uploader and its first `limit` videos (paging as the source needs)."""
    if ref.kind == PARTS:
        return await _parts_listing(client, ref)
    if ref.kind == FAVOURITES:
        return await _favourites_listing(client, ref, limit)
    return await _archives_listing(client, ref, limit)


async def _parts_listing(client: BilibiliClient, ref: CollectionRef) -> CollectionListing:
    info = await client.fetch_video_info(ref.source_id)
    video = ListedVideo(info.bvid, info.title, len(info.parts), [part.title for part in info.parts])
    return CollectionListing(info.title, info.owner_mid, info.owner_name, 1, [video])


async def _archives_listing(client: BilibiliClient, ref: CollectionRef, limit: int) -> CollectionListing:
    """A 合集 (seasons_archives_list) or a series (series/archives), page by page up to `limit`."""
    videos: list[ListedVideo] = []
    title, total, uploader_mid = "", 0, ref.mid
    for page in range(1, MAX_LISTING_PAGES + 1):
        if ref.kind == SEASON:
            params = {"mid": ref.mid or 0, "season_id": ref.source_id, "page_num": page, "page_size": SEASON_PAGE_SIZE}
            data = await client._api_data("/x/polymer/web-space/seasons_archives_list", params)
            meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
            title = str_or_empty(meta.get("name")) or title
            uploader_mid = int_or_none(meta.get("mid")) or uploader_mid
            total = int_or_none(meta.get("total")) or int_or_none(_page_of(data).get("total")) or 0
        else:
            params = {"mid": ref.mid or 0, "series_id": ref.source_id, "pn": page, "ps": SEASON_PAGE_SIZE}
            data = await client._api_data("/x/series/archives", params)
            total = int_or_none(_page_of(data).get("total")) or 0
        archives = data.get("archives") if isinstance(data.get("archives"), list) else []
        videos.extend(_listed_archive(item) for item in archives if isinstance(item, dict))
        if not archives or len(videos) >= min(total, limit):
            break
    title = title or f"{'合集' if ref.kind == SEASON else '系列'} {ref.source_id}"
    return CollectionListing(title, uploader_mid, "", max(total, len(videos)), videos[:limit])


def _page_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return data.get("page") if isinstance(data.get("page"), dict) else {}


def _listed_archive(item: Mapping[str, Any]) -> ListedVideo:
    bvid = item.get("bvid")
    if not isinstance(bvid, str):
        raise bad_response("archives[].bvid")
    return ListedVideo(bvid, str_or_empty(item.get("title")))


async def _favourites_listing(client: BilibiliClient, ref: CollectionRef, limit: int) -> CollectionListing:
    """A favourites folder, 20 a page; a private folder without its owner's login is FAVOURITES_PRIVATE."""
    videos: list[ListedVideo] = []
    info: Mapping[str, Any] = {}
    for page in range(1, MAX_LISTING_PAGES + 1):
        params = {"media_id": ref.source_id, "pn": page, "ps": FAVOURITES_PAGE_SIZE, "platform": "web"}
        try:
            data = await client._api_data("/x/v3/fav/resource/list", params)
        except AppError as exc:
            if exc.details.get("bilibili_code") == -403:
                raise AppError(FAVOURITES_PRIVATE, details={"media_id": ref.source_id}) from exc
            raise
        info = data.get("info") if isinstance(data.get("info"), dict) else info
        medias = data.get("medias") if isinstance(data.get("medias"), list) else []
        videos.extend(_listed_media(item) for item in medias if _is_video_media(item))
        if not data.get("has_more") or len(videos) >= limit:
            break
    upper = info.get("upper") if isinstance(info.get("upper"), dict) else {}
    total = int_or_none(info.get("media_count")) or len(videos)
    title = str_or_empty(info.get("title")) or f"收藏夹 {ref.source_id}"
    return CollectionListing(
        title, int_or_none(upper.get("mid")), str_or_empty(upper.get("name")), total, videos[:limit]
    )


def _is_video_media(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == FAVOURITES_VIDEO_TYPE and isinstance(item.get("bvid"), str)


def _listed_media(item: Mapping[str, Any]) -> ListedVideo:
    pages = int_or_none(item.get("page")) or 1
    unavailable = bool(int_or_none(item.get("attr")))
    return ListedVideo(item["bvid"], str_or_empty(item.get("title")), max(1, pages), unavailable=unavailable)

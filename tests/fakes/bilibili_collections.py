"""Collections on the fake Bilibili: 合集 (seasons_archives_list), series (series/archives) and
favourites folders (x/v3/fav/resource/list), in the wire shapes of docs/bilibili-api.md §14.

`FakeCollections(fake)` adds its videos to the FakeBilibili catalogue and serves the listings
from it; tests/fakes/bilibili.py mounts `routes()`. A private folder answers code -403 unless the
request carries a SESSDATA cookie; a deleted favourites entry has `attr` 9 and the title 已失效视频.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.fakes.bilibili import FakeBilibili, FakeVideo

UPLOADER = (7, "合集UP主")
# (bvid, aid) written out, so the fake does not depend on our BV algorithm.
SEASON_VIDEOS = [("BV1Zs411o7bC", 900001), ("BV1Zs411o7bk", 900002), ("BV1Zs411o7br", 900003)]
FIVE_PART = ("BV1Zs411o7bm", 900005)
TWO_PART = ("BV1Zs411o7bY", 900011)
SERIES_VIDEOS = [("BV1Zs411o7b6", 900012), ("BV1Zs411o7bh", 900021)]
DELETED = ("BV1Zs411o7b8", 900022)  # listed in a folder, gone from Bilibili (view: -404)
REGION_LOCKED = ("BV1Zs411o7bn", 900031)  # view: -688
PRIVATE_BVID = "BV1L9Uoa9EUx"  # in the base catalogue, view: 62002
WITH_SUBTITLES_BVID = "BV117411r7R1"

SEASON_ID, SERIES_ID = 4001, 6001
PUBLIC_FOLDER, MIXED_FOLDER, PRIVATE_FOLDER, LONG_FOLDER = 5001, 5002, 5003, 5004

SEASON_LINK = f"https://space.bilibili.com/{UPLOADER[0]}/lists/{SEASON_ID}?type=season"
SERIES_LINK = f"https://space.bilibili.com/{UPLOADER[0]}/channel/seriesdetail?sid={SERIES_ID}"
FAVOURITES_LINK = f"https://space.bilibili.com/1/favlist?fid={PUBLIC_FOLDER}"
MIXED_FAVOURITES_LINK = f"https://www.bilibili.com/medialist/detail/ml{MIXED_FOLDER}"
PRIVATE_FAVOURITES_LINK = f"https://space.bilibili.com/1/favlist?fid={PRIVATE_FOLDER}"
FIVE_PART_LINK = f"https://www.bilibili.com/video/{FIVE_PART[0]}"


@dataclass
class FakeFolder:
    title: str
    bvids: list[str]
    private: bool = False
    deleted: set[str] = field(default_factory=set)


def subtitled_video(bvid: str, aid: int, title: str, parts: int = 1) -> FakeVideo:
    """A video whose every part has a human Chinese subtitle (so it ingests without ASR)."""
    from tests.fakes.bilibili import FakePart, FakeSubtitle, FakeVideo

    return FakeVideo(
        bvid,
        aid,
        title,
        owner=UPLOADER,
        parts=[
            FakePart(
                aid * 10 + number,
                f"{title} 第{number}集",
                60,
                subtitles=[FakeSubtitle("zh-CN", "中文（中国）", [(1.0, 4.0, f"{title} 第{number}段：红烧肉")])],
            )
            for number in range(1, parts + 1)
        ],
    )


def collection_videos() -> list[FakeVideo]:
    from tests.fakes.bilibili import FakeVideo

    videos = [subtitled_video(bvid, aid, f"合集第{n}期") for n, (bvid, aid) in enumerate(SEASON_VIDEOS, 1)]
    videos.append(subtitled_video(*FIVE_PART, "五个分P的课程", parts=5))
    videos.append(subtitled_video(*TWO_PART, "两个分P", parts=2))
    videos += [subtitled_video(bvid, aid, f"系列第{n}期") for n, (bvid, aid) in enumerate(SERIES_VIDEOS, 1)]
    locked = subtitled_video(*REGION_LOCKED, "地区限制")
    videos.append(FakeVideo(locked.bvid, locked.aid, locked.title, locked.parts, error_code=-688))
    return videos


class FakeCollections:
    def __init__(self, fake: FakeBilibili) -> None:
        self.fake = fake
        for video in collection_videos():
            fake.videos.setdefault(video.bvid, video)
        self.seasons = {SEASON_ID: ("三期合集", [bvid for bvid, _ in SEASON_VIDEOS])}
        self.series = {SERIES_ID: [bvid for bvid, _ in SERIES_VIDEOS]}
        self.folders = {
            PUBLIC_FOLDER: FakeFolder("我的收藏", [SEASON_VIDEOS[0][0], TWO_PART[0], WITH_SUBTITLES_BVID]),
            MIXED_FOLDER: FakeFolder(
                "有失效视频的收藏",
                [SEASON_VIDEOS[1][0], DELETED[0], PRIVATE_BVID, REGION_LOCKED[0]],
                deleted={DELETED[0]},
            ),
            PRIVATE_FOLDER: FakeFolder("私密收藏", [SEASON_VIDEOS[2][0]], private=True),
            LONG_FOLDER: FakeFolder("很长的收藏", [SEASON_VIDEOS[n % 3][0] for n in range(45)]),
        }

    def routes(self) -> list[Route]:
        """Mounted ahead of the base routes (so `view` here adds `ugc_season` to season videos)."""
        return [
            Route("/x/web-interface/view", self.view),
            Route("/x/polymer/web-space/seasons_archives_list", self.season_archives),
            Route("/x/series/archives", self.series_archives),
            Route("/x/v3/fav/resource/list", self.favourites),
        ]

    async def view(self, request: Request) -> Response:
        """The base fake's view, plus `data.ugc_season` for a video of the 合集 (§14.1)."""
        response = await self.fake.view(request)
        bvid = request.query_params.get("bvid", "")
        season = next((sid for sid, (_, bvids) in self.seasons.items() if bvid in bvids), None)
        if season is None or not isinstance(response, JSONResponse):
            return response
        body = json.loads(bytes(response.body))
        if not isinstance(body, dict) or body.get("code") != 0 or not isinstance(body.get("data"), dict):
            return response
        name, bvids = self.seasons[season]
        episodes = [{"aid": self._archive(b)["aid"], "bvid": b, "title": self._archive(b)["title"]} for b in bvids]
        body["data"]["ugc_season"] = {
            "id": season,
            "title": name,
            "mid": UPLOADER[0],
            "ep_count": len(bvids),
            "sections": [{"id": season * 10, "title": "正片", "episodes": episodes}],
        }
        return JSONResponse(body)

    def _archive(self, bvid: str) -> dict[str, Any]:
        video = self.fake.videos.get(bvid)
        aid = video.aid if video else 0
        title = video.title if video else "已失效视频"
        duration = sum(part.duration for part in video.parts) if video else 0
        return {
            "aid": aid,
            "bvid": bvid,
            "ctime": 1_700_000_000,
            "duration": duration,
            "pic": f"http://i0.hdslb.com/bfs/archive/{aid}.jpg",
            "pubdate": 1_700_000_000,
            "stat": {"view": 100},
            "title": title,
        }

    @staticmethod
    def _int(request: Request, name: str, default: int) -> int:
        value = request.query_params.get(name, "")
        return int(value) if value.isdigit() else default

    async def season_archives(self, request: Request) -> Response:
        from tests.fakes.bilibili import envelope

        if scripted := await self.fake._scripted(request):
            return scripted
        season = self.seasons.get(self._int(request, "season_id", 0))
        if season is None:
            return JSONResponse(envelope(None, -404, "啥都木有"))
        name, bvids = season
        number, size = self._int(request, "page_num", 1), self._int(request, "page_size", 30)
        shown = bvids[(number - 1) * size : number * size]
        meta = {"name": name, "description": "", "mid": UPLOADER[0], "season_id": 4001, "total": len(bvids)}
        return JSONResponse(
            envelope(
                {
                    "aids": [self._archive(bvid)["aid"] for bvid in shown],
                    "archives": [self._archive(bvid) for bvid in shown],
                    "meta": meta,
                    "page": {"page_num": number, "page_size": size, "total": len(bvids)},
                }
            )
        )

    async def series_archives(self, request: Request) -> Response:
        from tests.fakes.bilibili import envelope

        if scripted := await self.fake._scripted(request):
            return scripted
        bvids = self.series.get(self._int(request, "series_id", 0))
        if bvids is None:
            return JSONResponse(envelope(None, -404, "啥都木有"))
        number, size = self._int(request, "pn", 1), self._int(request, "ps", 30)
        shown = bvids[(number - 1) * size : number * size]
        return JSONResponse(
            envelope(
                {
                    "aids": [self._archive(bvid)["aid"] for bvid in shown],
                    "archives": [self._archive(bvid) for bvid in shown],
                    "page": {"num": number, "size": size, "total": len(bvids)},
                }
            )
        )

    async def favourites(self, request: Request) -> Response:
        from tests.fakes.bilibili import envelope

        if scripted := await self.fake._scripted(request):
            return scripted
        folder = self.folders.get(self._int(request, "media_id", 0))
        if folder is None:
            return JSONResponse(envelope(None, -404, "啥都木有"))
        if folder.private and "SESSDATA" not in request.cookies:
            return JSONResponse(envelope(None, -403, "访问权限不足"))
        number, size = self._int(request, "pn", 1), min(20, self._int(request, "ps", 20))
        shown = folder.bvids[(number - 1) * size : number * size]
        info = {
            "id": self._int(request, "media_id", 0),
            "title": folder.title,
            "media_count": len(folder.bvids),
            "upper": {"mid": 1, "name": "tester"},
        }
        medias = [self._media(bvid, bvid in folder.deleted) for bvid in shown]
        return JSONResponse(envelope({"info": info, "medias": medias, "has_more": number * size < len(folder.bvids)}))

    def _media(self, bvid: str, deleted: bool) -> dict[str, Any]:
        video = None if deleted else self.fake.videos.get(bvid)
        archive = self._archive(bvid)
        return {
            "id": archive["aid"],
            "type": 2,
            "title": "已失效视频" if deleted else archive["title"],
            "duration": archive["duration"],
            "page": len(video.parts) if video else 1,
            "attr": 9 if deleted else 0,
            "bvid": bvid,
            "upper": {"mid": UPLOADER[0], "name": UPLOADER[1]},
        }

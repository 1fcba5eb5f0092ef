"""A local fake of api.bilibili.com, comment.bilibili.com, b23.tv and the media CDN.

It speaks the wire shapes of docs/bilibili-api.md: the `{code, message, ttl, data}` wrapper,
nav with `wbi_img`, finger/spi, view, WBI-signed player/wbi/v2 and playurl (a bad signature gets
the `code 0` + `data.v_voucher` reply), BCC subtitle files, raw-deflate danmaku XML, b23.tv 302s,
and audio that needs a bilibili Referer and a User-Agent. One server stands in for every host, so
a test points all the Bilibili base-URL settings at it.

`FakeBilibili.with_catalogue()` holds the videos the tests use. Every request is recorded, and
`fail_next` scripts risk control, server errors and odd replies for the next N calls of a path.
The WBI check is written independently of `videos.links.wbi_sign` on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

IMG_KEY = "7cd084941338484aae1ad9425b84077c"
SUB_KEY = "4932caff0ff746eab6f01bf08b70ac45"
ROTATED_IMG_KEY = "0123456789abcdef0123456789abcdef"
ROTATED_SUB_KEY = "fedcba9876543210fedcba9876543210"
MIXIN_TABLE = [46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14,
               39, 12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25, 54, 21, 56, 59,
               6, 63, 57, 62, 11, 36, 20, 34, 44, 52]  # fmt: skip
ERROR_MESSAGES = {-400: "请求错误", -403: "访问权限不足", -404: "啥都木有", 62002: "稿件不可见", 62004: "稿件审核中",
                  62012: "仅UP主自己可见"}  # fmt: skip


@dataclass
class FakeSubtitle:
    lan: str
    lan_doc: str
    lines: list[tuple[float, float, str]]
    is_ai: bool = False
    # For the wrong-track trap: the (aid, cid) the AI file really belongs to.
    belongs_to: tuple[int, int] | None = None


@dataclass
class FakeAudio:
    quality_id: int
    bandwidth: int
    data: bytes


@dataclass
class FakePart:
    cid: int
    title: str
    duration: int
    subtitles: list[FakeSubtitle] = field(default_factory=list)
    danmaku: list[tuple[float, str]] = field(default_factory=list)
    audio: list[FakeAudio] | None = None  # None: dash.audio is null (a video without sound)
    dead_base_url: bool = False  # the smallest stream's baseUrl fails, its backupUrl works
    # The uploader's chapters (from s, to s, title), served as player/wbi/v2 `view_points` of type 2.
    view_points: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class FakeVideo:
    bvid: str
    aid: int
    title: str
    parts: list[FakePart]
    desc: str = ""
    owner: tuple[int, str] = (2, "碧诗")
    pubdate: int = 1_262_275_200
    error_code: int | None = None  # e.g. 62002: view answers with this code


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]


@dataclass
class ScriptedReply:
    kind: str  # "json" (body as given), "http412", "http500", "timeout", "text"
    body: Any = None


def compute_w_rid(query: dict[str, str], img_key: str, sub_key: str) -> str:
    """The expected w_rid for the received parameters (everything but w_rid, wts included)."""
    raw = img_key + sub_key
    mixin = "".join(raw[i] for i in MIXIN_TABLE)[:32]
    pairs = sorted((k, v) for k, v in query.items() if k != "w_rid")
    text = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in pairs)
    return hashlib.md5((text + mixin).encode()).hexdigest()


def envelope(data: Any, code: int = 0, message: str = "0") -> dict[str, Any]:
    return {"code": code, "message": message, "ttl": 1, "data": data}


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def danmaku_xml(cid: int, items: list[tuple[float, str]]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?><i><chatserver>chat.bilibili.com</chatserver>',
        f"<chatid>{cid}</chatid><mission>0</mission><maxlimit>3000</maxlimit><state>0</state>",
        "<real_name>0</real_name><source>k-v</source>",
    ]
    for index, (seconds, text) in enumerate(items):
        p = f"{seconds:.5f},1,25,16777215,1584268892,0,a16fe0dd,{29950852386521095 + index}"
        lines.append(f"<d p={quoteattr(p)}>{escape(text)}</d>")
    lines.append("</i>")
    return "".join(lines).encode()


class FakeBilibili:
    def __init__(self, videos: list[FakeVideo] | None = None, short_links: dict[str, str] | None = None) -> None:
        self.videos = {video.bvid: video for video in videos or []}
        self.short_links = dict(short_links or {})
        self.requests: list[RecordedRequest] = []
        self.img_key, self.sub_key = IMG_KEY, SUB_KEY
        self.subtitles_need_login = True
        self.expired_sessdata: set[str] = set()  # nav answers -101 to these (an expired login)
        self.danmaku_encoding = "raw"  # raw | deflate-header | zlib | plain
        self.timeout_delay_seconds = 2.0
        self._scripts: dict[str, list[ScriptedReply]] = {}
        self._listed_subtitles: dict[str, FakeSubtitle] = {}
        from tests.fakes.bilibili_collections import FakeCollections  # here: that module imports this one

        self.collections = FakeCollections(self)  # 合集, series and favourites (adds its videos)
        self.app = Starlette(
            routes=[
                *self.collections.routes(),
                Route("/x/web-interface/nav", self.nav),
                Route("/x/frontend/finger/spi", self.finger_spi),
                Route("/x/web-interface/view", self.view),
                Route("/x/player/wbi/v2", self.player_v2),
                Route("/x/player/wbi/playurl", self.playurl),
                Route("/bfs/{kind}/{name:path}", self.subtitle_file),
                Route("/upgcxcode/{name}", self.audio_file),
                Route("/backup/{name}", self.audio_file),
                Route("/dead/{name}", self.dead_file),
                Route("/{cid:int}.xml", self.danmaku),
                Route("/{code}", self.short_link),
            ]
        )

    # --- configuration used by the tests ----------------------------------------------------

    def fail_next(self, path: str, kind: str, times: int = 1, body: Any = None) -> None:
        """The next `times` requests to `path` get this reply instead of the real one."""
        self._scripts.setdefault(path, []).extend(ScriptedReply(kind, body) for _ in range(times))

    def rotate_keys(self) -> None:
        """New WBI keys, as Bilibili does daily: signatures made with the old ones now fail."""
        self.img_key, self.sub_key = ROTATED_IMG_KEY, ROTATED_SUB_KEY

    def calls(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def part(self, cid: int) -> FakePart:
        return next(part for video in self.videos.values() for part in video.parts if part.cid == cid)

    # --- helpers ------------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers={key.lower(): value for key, value in request.headers.items()},
                cookies=dict(request.cookies),
            )
        )

    async def _scripted(self, request: Request) -> Response | None:
        self._record(request)
        queue = self._scripts.get(request.url.path)
        if not queue:
            return None
        reply = queue.pop(0)
        if reply.kind == "json":
            return JSONResponse(reply.body)
        if reply.kind == "http412":
            return Response("<html><body>412 Precondition Failed</body></html>", 412, media_type="text/html")
        if reply.kind == "http500":
            return Response("upstream error", 502)
        if reply.kind == "timeout":
            await asyncio.sleep(self.timeout_delay_seconds)
            return JSONResponse(envelope(None, -500, "too late"))
        if reply.kind == "text":
            return Response(str(reply.body), 200, media_type="text/html")
        raise ValueError(f"unknown scripted reply kind {reply.kind!r}")

    def _signature_ok(self, request: Request) -> bool:
        query = dict(request.query_params)
        if "w_rid" not in query or "wts" not in query:
            return False
        return query["w_rid"] == compute_w_rid(query, self.img_key, self.sub_key)

    def _find_part(self, request: Request) -> tuple[FakeVideo, FakePart] | None:
        query = request.query_params
        for video in self.videos.values():
            if query.get("bvid") not in (None, video.bvid):
                continue
            if query.get("aid", query.get("avid")) not in (None, str(video.aid)):
                continue
            for part in video.parts:
                if query.get("cid") == str(part.cid):
                    return video, part
        return None

    @staticmethod
    def _voucher() -> JSONResponse:
        return JSONResponse(envelope({"v_voucher": "voucher_0a1b2c3d-fake"}))

    # --- api.bilibili.com ---------------------------------------------------------------------

    async def nav(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        wbi_img = {
            "img_url": f"https://i0.hdslb.com/bfs/wbi/{self.img_key}.png",
            "sub_url": f"https://i0.hdslb.com/bfs/wbi/{self.sub_key}.png",
        }
        if "SESSDATA" in request.cookies and request.cookies["SESSDATA"] not in self.expired_sessdata:
            return JSONResponse(envelope({"isLogin": True, "mid": 1, "uname": "tester", "wbi_img": wbi_img}))
        return JSONResponse(envelope({"isLogin": False, "wbi_img": wbi_img}, -101, "账号未登录"))

    async def finger_spi(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        return JSONResponse(
            envelope({"b_3": "FAKE-BUVID3-0000infoc", "b_4": "FAKE-BUVID4-0000-0000-0000-000000000000-022012"})
        )

    async def view(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        video = self.videos.get(request.query_params.get("bvid", ""))
        if video is None:
            return JSONResponse(envelope(None, -404, "啥都木有"))
        if video.error_code is not None:
            return JSONResponse(envelope(None, video.error_code, ERROR_MESSAGES.get(video.error_code, "error")))
        return JSONResponse(envelope(self._view_data(video)))

    def _view_data(self, video: FakeVideo) -> dict[str, Any]:
        pages = [
            {
                "cid": part.cid,
                "page": number,
                "from": "vupload",
                "part": part.title,
                "duration": part.duration,
                "vid": "",
                "weblink": "",
                "dimension": {"width": 1920, "height": 1080, "rotate": 0},
            }
            for number, part in enumerate(video.parts, start=1)
        ]
        return {
            "bvid": video.bvid,
            "aid": video.aid,
            "videos": len(video.parts),
            "tid": 17,
            "tname": "单机游戏",
            "copyright": 1,
            "pic": f"http://i1.hdslb.com/bfs/archive/{video.aid}.jpg",
            "title": video.title,
            "pubdate": video.pubdate,
            "ctime": video.pubdate,
            "desc": video.desc,
            "desc_v2": [{"raw_text": video.desc, "type": 1, "biz_id": 0}],
            "state": 0,
            "duration": sum(part.duration for part in video.parts),
            "rights": {"is_stein_gate": 0, "is_360": 0},
            "owner": {"mid": video.owner[0], "name": video.owner[1], "face": "https://i0.hdslb.com/bfs/face/x.jpg"},
            "stat": {
                "aid": video.aid,
                "view": 1234,
                "danmaku": 56,
                "reply": 7,
                "favorite": 8,
                "coin": 9,
                "share": 10,
                "now_rank": 0,
                "his_rank": 0,
                "like": 11,
                "dislike": 0,
                "evaluation": "",
                "vt": 0,
            },
            "cid": video.parts[0].cid,
            "pages": pages,
            "subtitle": {"allow_submit": False, "list": []},
            "is_upower_exclusive": False,
        }

    async def player_v2(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        if not self._signature_ok(request):
            return self._voucher()
        found = self._find_part(request)
        if found is None:
            return JSONResponse(envelope(None, -400, "请求错误"))
        video, part = found
        logged_in = "SESSDATA" in request.cookies
        visible = logged_in or not self.subtitles_need_login
        tracks = [self._subtitle_item(request, video, part, sub) for sub in part.subtitles] if visible else []
        return JSONResponse(
            envelope(
                {
                    "aid": video.aid,
                    "bvid": video.bvid,
                    "cid": part.cid,
                    "login_mid": 1 if logged_in else 0,
                    "need_login_subtitle": bool(part.subtitles) and not visible,
                    "subtitle": {"allow_submit": False, "lan": "", "lan_doc": "", "subtitles": tracks},
                    "view_points": [
                        {"type": 2, "from": start, "to": end, "content": title, "imgUrl": ""}
                        for start, end, title in part.view_points
                    ],
                }
            )
        )

    def _subtitle_item(self, request: Request, video: FakeVideo, part: FakePart, sub: FakeSubtitle) -> dict:
        host = request.url.netloc
        if sub.is_ai:
            aid, cid = sub.belongs_to or (video.aid, part.cid)
            path = f"/bfs/ai_subtitle/prod/{aid}{cid}{sub.lan}0f3c9a?auth_key=1725003260-abc-0-def"
        else:
            path = f"/bfs/subtitle/{part.cid}{sub.lan}.json?auth_key=1725003260-abc-0-def"
        self._listed_subtitles[path.split("?")[0]] = sub  # files can be fetched once listed
        return {
            "id": 13643112644608002,
            "lan": sub.lan,
            "lan_doc": sub.lan_doc,
            "is_lock": False,
            "subtitle_url": f"//{host}{path}",
            "type": 1 if sub.is_ai else 0,
            "id_str": "13643112644608002",
            "ai_type": 0,
            "ai_status": 2 if sub.is_ai else 0,
        }

    async def playurl(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        if not self._signature_ok(request):
            return self._voucher()
        found = self._find_part(request)
        if found is None:
            return JSONResponse(envelope(None, -404, "啥都木有"))
        _, part = found
        base = f"{request.url.scheme}://{request.url.netloc}"
        audio = None if part.audio is None else [self._audio_item(base, part, stream) for stream in part.audio]
        dash = {"duration": part.duration, "minBufferTime": 1.5, "video": [], "audio": audio, "dolby": None}
        return JSONResponse(
            envelope({"quality": 80, "format": "flv", "timelength": part.duration * 1000, "dash": dash, "flac": None})
        )

    def _audio_item(self, base: str, part: FakePart, stream: FakeAudio) -> dict[str, Any]:
        name = f"{part.cid}-1-{stream.quality_id}.m4s"
        smallest = min(part.audio or [], key=lambda item: item.bandwidth)
        main_dir = "dead" if part.dead_base_url and stream is smallest else "upgcxcode"
        main = f"{base}/{main_dir}/{name}?deadline=1725003260&upsig=abc"
        backups = [f"{base}/backup/{name}?deadline=1725003260&os=bak"]
        return {
            "id": stream.quality_id,
            "baseUrl": main,
            "base_url": main,
            "backupUrl": backups,
            "backup_url": backups,
            "bandwidth": stream.bandwidth,
            "mimeType": "audio/mp4",
            "mime_type": "audio/mp4",
            "codecs": "mp4a.40.2",
            "codecid": 0,
            "SegmentBase": {"Initialization": "0-907", "indexRange": "908-1535"},
        }

    # --- CDN: subtitle files and audio --------------------------------------------------------

    async def subtitle_file(self, request: Request) -> Response:
        self._record(request)
        subtitle = self._listed_subtitles.get(request.url.path)
        if subtitle is None:
            return Response("not found", 404)
        body = [
            {"from": start, "to": end, "sid": index, "location": 2, "content": text, "music": 0.0}
            for index, (start, end, text) in enumerate(subtitle.lines, start=1)
        ]
        return JSONResponse({"font_size": 0.4, "font_color": "#FFFFFF", "background_alpha": 0.5, "body": body})

    async def audio_file(self, request: Request) -> Response:
        self._record(request)
        referer = request.headers.get("referer", "")
        if not referer.startswith(("https://www.bilibili.com", "https://bilibili.com")) or not request.headers.get(
            "user-agent"
        ):
            return Response("Forbidden", 403)
        cid_text, _, quality = request.path_params["name"].removesuffix(".m4s").split("-")
        part = self.part(int(cid_text))
        stream = next(stream for stream in part.audio or [] if str(stream.quality_id) == quality)
        return Response(stream.data, media_type="video/mp4")

    async def dead_file(self, request: Request) -> Response:
        self._record(request)
        return Response("Not Found", 404)

    # --- comment.bilibili.com and b23.tv ------------------------------------------------------

    async def danmaku(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        cid = request.path_params["cid"]
        items = next((part.danmaku for video in self.videos.values() for part in video.parts if part.cid == cid), None)
        if items is None:
            return Response("", 404)
        xml = danmaku_xml(cid, items)
        headers = {"content-type": "text/xml"}
        if self.danmaku_encoding == "raw":
            return Response(raw_deflate(xml), headers=headers)
        if self.danmaku_encoding == "deflate-header":
            return Response(raw_deflate(xml), headers={**headers, "content-encoding": "deflate"})
        if self.danmaku_encoding == "zlib":
            return Response(zlib.compress(xml), headers=headers)
        return Response(xml, headers=headers)

    async def short_link(self, request: Request) -> Response:
        if scripted := await self._scripted(request):
            return scripted
        location = self.short_links.get(request.path_params["code"])
        if location is None:
            return Response("<html>404</html>", 404, media_type="text/html")
        return RedirectResponse(location, status_code=302)

    # --- the catalogue --------------------------------------------------------------------------

    @classmethod
    def with_catalogue(cls) -> FakeBilibili:
        return cls(videos=catalogue_videos(), short_links=CATALOGUE_SHORT_LINKS)


def audio_streams(cid: int) -> list[FakeAudio]:
    # Same order as real replies (best first); the 64K stream 30216 is the smallest.
    return [
        FakeAudio(30280, 319_112, f"m4s-192k-{cid}".encode() * 4),
        FakeAudio(30232, 132_229, f"m4s-132k-{cid}".encode() * 2),
        FakeAudio(30216, 67_125, f"m4s-64k-{cid}".encode()),
    ]


HUMAN_ZH_LINES = [(7.94, 8.96, "大家好"), (9.1, 11.5, "今天讲快板")]
AI_ZH_LINES = [(0.5, 2.0, "大家好啊"), (2.5, 4.25, "这是自动生成的字幕")]
EN_LINES = [(7.94, 8.96, "Hello everyone")]
# The uploader's chapters of the video with subtitles (seconds): the only catalogue part that has any.
UPLOADER_CHAPTERS = [(0, 8, "开场"), (8, 10, "打招呼"), (10, 486, "快板正片")]
DANMAKU = [(1.5, "开始了"), (3.0, "前排"), (12.25, "哈哈哈"), (14.0, "哈哈哈"), (15.5, "awsl"), (490.191, "回来看")]

# The documented (aid, bvid) pairs, written out so the fake does not depend on our algorithm.
MULTI_PART = ("BV17x411w7KC", 170001)
WITH_SUBTITLES = ("BV117411r7R1", 85440373)
AI_ONLY = ("BV1ex411J7GE", 13502509)
WRONG_AI_TRACK = ("BV1MU411S7iJ", 1906473802)
NO_SUBTITLES = ("BV1bK411W797", 498159642)
PRIVATE = ("BV1L9Uoa9EUx", 111298867365120)
MULTI_PART_CIDS = [279786, 275431, 279787, 280467, 280468, 280469, 274491, 267410, 267714, 270380]

CATALOGUE_SHORT_LINKS = {
    "pigt3PQ": "https://www.bilibili.com/video/BV17x411w7KC?p=2&share_medium=android&share_source=copy_link"
    "&unique_k=kpLP9MF",
    "offsite": "https://qr.qq.com/login?from=b23",
    "spacepg": "https://space.bilibili.com/2",
}


def catalogue_videos() -> list[FakeVideo]:
    multi_part = FakeVideo(
        *MULTI_PART,
        title="【MV】保加利亚妖王AZIS视频合辑",
        desc="十个分P",
        parts=[
            FakePart(cid, f"第{number}P", 200 + number, audio=audio_streams(cid), danmaku=DANMAKU)
            for number, cid in enumerate(MULTI_PART_CIDS, start=1)
        ],
    )
    with_subtitles = FakeVideo(
        *WITH_SUBTITLES,
        title="当我给拜年祭的快板加了电音配乐…",
        parts=[
            FakePart(
                146044693,
                "快板",
                486,
                subtitles=[
                    FakeSubtitle("en-US", "English", EN_LINES),
                    FakeSubtitle("ai-zh", "中文（自动生成）", AI_ZH_LINES, is_ai=True),
                    FakeSubtitle("zh-CN", "中文（中国）", HUMAN_ZH_LINES),
                ],
                audio=audio_streams(146044693),
                view_points=UPLOADER_CHAPTERS,
            )
        ],
    )
    ai_only = FakeVideo(
        *AI_ONLY,
        title="四个分P，只有 AI 字幕",
        parts=[
            FakePart(
                cid,
                f"P{number}",
                60,
                subtitles=[
                    FakeSubtitle("en-US", "English", EN_LINES),
                    FakeSubtitle("ai-zh", "中文（自动生成）", AI_ZH_LINES, is_ai=True),
                ],
            )
            for number, cid in enumerate([66445301, 35039663, 35039678, 35039693], start=1)
        ],
    )
    wrong_track = FakeVideo(
        *WRONG_AI_TRACK,
        title="AI 字幕是别的视频的",
        parts=[
            FakePart(
                1214627038,
                "P1",
                120,
                subtitles=[
                    FakeSubtitle("ai-zh", "中文（自动生成）", AI_ZH_LINES, is_ai=True, belongs_to=(531599394, 99)),
                ],
            )
        ],
    )
    no_subtitles = FakeVideo(
        *NO_SUBTITLES,
        title="没有字幕",
        parts=[FakePart(61_000_001, "P1", 30, audio=audio_streams(61_000_001), dead_base_url=True)],
    )
    silent = FakeVideo("BV1xx411c7mD", 2, "没有声音", parts=[FakePart(62_000_001, "P1", 10, audio=None)])
    private = FakeVideo(*PRIVATE, title="私密", parts=[FakePart(1, "P1", 1)], error_code=62002)
    return [multi_part, with_subtitles, ai_only, wrong_track, no_subtitles, silent, private]

"""The Bilibili client against the local fake Bilibili (tests/fakes/bilibili.py)."""

from __future__ import annotations

import zlib
from typing import Any

import httpx
import pytest

from core.errors import AppError
from tests.fakes.bilibili import (
    AI_ONLY,
    AI_ZH_LINES,
    DANMAKU,
    HUMAN_ZH_LINES,
    MULTI_PART,
    MULTI_PART_CIDS,
    NO_SUBTITLES,
    PRIVATE,
    WITH_SUBTITLES,
    WRONG_AI_TRACK,
    FakeBilibili,
    compute_w_rid,
    danmaku_xml,
    envelope,
    raw_deflate,
)
from videos.bilibili import BilibiliClient
from videos.bilibili_replies import absolute_subtitle_url, ai_subtitle_matches, api_error, choose_subtitle_track
from videos.danmaku import danmaku_from_xml, danmaku_summary, inflate_danmaku
from videos.errors import INVALID_LINK
from videos.types import Cue, VideoRef

VIEW = "/x/web-interface/view"
PLAYER = "/x/player/wbi/v2"
PLAYURL = "/x/player/wbi/playurl"
NAV = "/x/web-interface/nav"
SPI = "/x/frontend/finger/spi"
RETRY_ATTEMPTS = 3


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.BILIBILI_RETRY_BASE_DELAY_SECONDS = 0.01
    settings.BILIBILI_RETRY_ATTEMPTS = RETRY_ATTEMPTS


@pytest.fixture
def fake(fake_server: Any, settings: Any, fast_retries: None) -> FakeBilibili:
    settings.BILIBILI_SESSDATA = "fake-sessdata"
    bilibili = FakeBilibili.with_catalogue()
    fake_server(bilibili.app, "BILIBILI_API_BASE", "BILIBILI_COMMENT_BASE", "BILIBILI_SHORTLINK_BASE")
    return bilibili


def cues(lines: list[tuple[float, float, str]]) -> list[Cue]:
    return [Cue(round(start * 1000), round(end * 1000), text) for start, end, text in lines]


# --- metadata -------------------------------------------------------------------------------------


async def test_video_info_has_every_part_of_a_multi_part_video(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        info = await bilibili.fetch_video_info(MULTI_PART[0])
    assert (info.bvid, info.aid) == MULTI_PART
    assert info.title == "【MV】保加利亚妖王AZIS视频合辑"
    assert info.description == "十个分P"
    assert (info.owner_mid, info.owner_name) == (2, "碧诗")
    assert info.cover_url == f"https://i1.hdslb.com/bfs/archive/{MULTI_PART[1]}.jpg"
    assert info.published_at == 1_262_275_200
    assert info.stats["view"] == 1234 and info.stats["like"] == 11
    assert "evaluation" not in info.stats  # only numbers are kept
    assert [part.cid for part in info.parts] == MULTI_PART_CIDS
    assert [part.page for part in info.parts] == list(range(1, 11))
    assert info.parts[2].title == "第3P" and info.parts[2].duration_seconds == 203
    assert info.duration_seconds == sum(part.duration_seconds for part in info.parts)
    assert fake.calls(VIEW)[0].query == {"bvid": MULTI_PART[0]}


async def test_a_private_video_is_an_error_that_is_not_retried(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info(PRIVATE[0])
    assert (caught.value.code, caught.value.status, caught.value.retryable) == ("video_private", 422, False)
    assert caught.value.message("zh") == (
        "这个视频目前不公开（UP 主设为私密或已隐藏），ChatBili 无法读取：请换一个视频，或等它重新公开后再试"
    )
    assert caught.value.message("en") == (
        "The video is private or hidden; try another video, or again once the uploader makes it public"
    )
    assert len(fake.calls(VIEW)) == 1  # errors that are not retryable are not retried


@pytest.mark.parametrize(
    ("api_code", "error_code"),
    [
        (-404, "video_not_found"),
        (62002, "video_private"),
        (62004, "video_under_review"),
        (62012, "video_owner_only"),
        (-403, "access_denied"),
        (-400, "bilibili_bad_request"),
        (-688, "geo_restricted"),
        (-689, "copyright_restricted"),
        (-10403, "members_only"),
        (-101, "login_required"),
        (-401, "bilibili_bad_request"),
        (87007, "upower_exclusive"),
        (87008, "upower_exclusive"),
        (-12345, "bilibili_error"),
    ],
)
async def test_view_error_codes_become_errors_that_are_not_retried(
    fake: FakeBilibili, api_code: int, error_code: str
) -> None:
    fake.fail_next(VIEW, "json", body=envelope(None, api_code, "错误"))
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info(MULTI_PART[0])
    assert (caught.value.code, caught.value.retryable) == (error_code, False)
    assert len(fake.calls(VIEW)) == 1


@pytest.mark.parametrize(
    ("api_code", "raw", "advice_zh", "advice_en"),
    [
        (62002, "稿件不可见", "请换一个视频，或等它重新公开后再试", "try another video, or again once"),
        (62004, "稿件审核中", "等它发布后再提交", "submit it again once it is published"),
        (62012, "仅UP主自己可见", "请换一个视频", "try another video"),
        (-404, "啥都木有", "请在哔哩哔哩打开链接确认一下", "check the link"),
        (-403, "访问权限不足", "请换一个视频", "try another video"),
        (-400, "请求错误", "从视频页重新复制地址", "copy it again from the video page"),
        (-101, "账号未登录", "请让管理员设置 BILIBILI_SESSDATA", "ask the administrator to set BILIBILI_SESSDATA"),
        (87008, "当前视频为充电专属", "请换一个视频", "try another video"),
        (-12345, "某个没见过的错误", "请确认链接能在哔哩哔哩正常打开", "check that the link opens on Bilibili"),
    ],
)
def test_every_bilibili_code_speaks_our_own_words_in_both_languages(
    api_code: int, raw: str, advice_zh: str, advice_en: str
) -> None:
    error = api_error(api_code, raw)
    zh, en = error.message("zh"), error.message("en")
    assert raw not in zh
    assert raw not in en
    assert advice_zh in zh
    assert advice_en in en
    assert error.details["bilibili_code"] == api_code


async def test_an_unknown_video_is_not_found(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info("BV1xx411c7mE")
    assert caught.value.code == "video_not_found"


async def test_a_malformed_bvid_fails_before_any_request(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info("BV1notvalid!")
    assert caught.value.kind == INVALID_LINK
    assert fake.requests == []


@pytest.mark.parametrize(
    "reply",
    [
        ("json", envelope({"title": "no ids, no pages"})),
        ("json", envelope({"bvid": "BV17x411w7KC", "aid": 170001, "title": "t", "pages": "nope"})),
        ("json", envelope({"bvid": "BV17x411w7KC", "aid": 170001, "title": "t", "pages": [{"page": 1}]})),
        ("json", envelope({"bvid": "BV17x411w7KC", "aid": "170001", "title": "t", "pages": [{"cid": 1}]})),
        ("json", envelope(["not", "an", "object"])),
        ("json", {"message": "no code"}),
        ("json", ["just", "a", "list"]),
        ("text", "<html>risk</html>"),
    ],
)
async def test_unexpected_replies_become_bad_response(fake: FakeBilibili, reply: tuple[str, Any]) -> None:
    fake.fail_next(VIEW, reply[0], body=reply[1])
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info(MULTI_PART[0])
    assert caught.value.code == "bad_response"


# --- risk control, retries and cookies ------------------------------------------------------------


@pytest.mark.parametrize("failure", ["minus352", "http412", "http500", "v_voucher"])
async def test_one_transient_failure_is_retried(fake: FakeBilibili, failure: str) -> None:
    scripted = {
        "minus352": ("json", envelope({"v_voucher": "voucher_x"}, -352, "风控校验失败")),
        "http412": ("http412", None),
        "http500": ("http500", None),
        "v_voucher": ("json", envelope({"v_voucher": "voucher_x"})),
    }[failure]
    fake.fail_next(VIEW, scripted[0], body=scripted[1])
    async with BilibiliClient() as bilibili:
        info = await bilibili.fetch_video_info(WITH_SUBTITLES[0])
    assert info.aid == WITH_SUBTITLES[1]
    assert len(fake.calls(VIEW)) == 2


@pytest.mark.parametrize(
    ("failure", "error_code"),
    [
        (("json", envelope({"v_voucher": "voucher_x"}, -352, "风控校验失败")), "risk_control"),
        (("json", envelope(None, -412, "请求被拦截")), "risk_control"),
        (("http412", None), "risk_control"),
        (("http500", None), "bilibili_unavailable"),
    ],
)
async def test_lasting_failures_give_up_after_the_configured_attempts(
    fake: FakeBilibili, failure: tuple[str, Any], error_code: str
) -> None:
    fake.fail_next(VIEW, failure[0], body=failure[1], times=10)
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info(MULTI_PART[0])
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (error_code, 503, True)
    assert caught.value.retry_after == 30
    assert len(fake.calls(VIEW)) == RETRY_ATTEMPTS


async def test_timeouts_are_retried_then_reported(fake: FakeBilibili) -> None:
    fake.timeout_delay_seconds = 1.0
    fake.fail_next(VIEW, "timeout", times=RETRY_ATTEMPTS - 1)
    async with BilibiliClient(timeout=0.2) as bilibili:
        info = await bilibili.fetch_video_info(MULTI_PART[0])
        assert info.aid == MULTI_PART[1]
        fake.fail_next(VIEW, "timeout", times=RETRY_ATTEMPTS)
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info(MULTI_PART[0])
    assert (caught.value.code, caught.value.retryable) == ("bilibili_unavailable", True)


async def test_an_unreachable_bilibili_is_a_retryable_error(fast_retries: None) -> None:
    # The test settings point every outside host at a closed local port.
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_video_info(MULTI_PART[0])
    assert (caught.value.code, caught.value.retryable) == ("bilibili_unavailable", True)


async def test_buvid_is_fetched_once_and_cookies_ride_on_every_api_call(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        await bilibili.fetch_video_info(MULTI_PART[0])
        await bilibili.fetch_video_info(WITH_SUBTITLES[0])
        await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
        await bilibili.fetch_danmaku(MULTI_PART_CIDS[0])
    assert len(fake.calls(SPI)) == 1
    assert fake.requests[0].path == SPI
    after_spi = [request for request in fake.requests[1:] if request.path in (VIEW, NAV, PLAYER, "/279786.xml")]
    assert len(after_spi) == 5
    for request in after_spi:
        assert request.cookies["buvid3"] == "FAKE-BUVID3-0000infoc"
        assert request.cookies["buvid4"].startswith("FAKE-BUVID4-")
        assert request.cookies["SESSDATA"] == "fake-sessdata"
        assert request.headers["referer"] == "https://www.bilibili.com/"
        assert "Chrome" in request.headers["user-agent"]


async def test_each_client_has_its_own_cookie_jar(fake: FakeBilibili, settings: Any) -> None:
    settings.BILIBILI_SESSDATA = ""
    async with BilibiliClient() as bilibili:
        await bilibili.fetch_video_info(MULTI_PART[0])
    async with BilibiliClient() as bilibili:
        await bilibili.fetch_video_info(MULTI_PART[0])
    assert len(fake.calls(SPI)) == 2
    assert all("SESSDATA" not in request.cookies for request in fake.requests)


async def test_a_failing_buvid_endpoint_does_not_stop_ingestion(fake: FakeBilibili) -> None:
    fake.fail_next(SPI, "http500")
    async with BilibiliClient() as bilibili:
        info = await bilibili.fetch_video_info(MULTI_PART[0])
        await bilibili.fetch_video_info(MULTI_PART[0])
    assert info.aid == MULTI_PART[1]
    assert len(fake.calls(SPI)) == 1
    assert "buvid3" not in fake.calls(VIEW)[0].cookies


# --- subtitles ----------------------------------------------------------------------------------------


async def test_human_chinese_subtitles_win_over_ai_and_english(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        transcript = await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
    assert transcript is not None
    assert (transcript.source, transcript.language) == ("subtitle", "zh-CN")
    assert transcript.cues == cues(HUMAN_ZH_LINES)
    listing = fake.calls(PLAYER)[0].query
    assert listing["aid"] == str(WITH_SUBTITLES[1]) and listing["cid"] == "146044693"
    assert listing["w_rid"] == compute_w_rid(listing, fake.img_key, fake.sub_key)
    assert len(fake.calls(NAV)) == 1
    assert [request.path for request in fake.requests if request.path.startswith("/bfs/")] == [
        "/bfs/subtitle/146044693zh-CN.json"
    ]


async def test_ai_chinese_subtitles_win_over_human_english(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        transcript = await bilibili.fetch_subtitle(AI_ONLY[1], 35039663, AI_ONLY[0])
    assert transcript is not None
    assert (transcript.source, transcript.language) == ("ai_subtitle", "ai-zh")
    assert transcript.cues == cues(AI_ZH_LINES)


async def test_an_ai_track_of_another_video_means_no_subtitles(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        transcript = await bilibili.fetch_subtitle(WRONG_AI_TRACK[1], 1214627038, WRONG_AI_TRACK[0])
    assert transcript is None
    assert len(fake.calls(PLAYER)) == 1
    assert not [request for request in fake.requests if request.path.startswith("/bfs/")]


async def test_a_video_without_subtitles_has_none(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        assert await bilibili.fetch_subtitle(NO_SUBTITLES[1], 61_000_001, NO_SUBTITLES[0]) is None


async def test_subtitles_need_a_login(fake: FakeBilibili, settings: Any) -> None:
    settings.BILIBILI_SESSDATA = ""
    async with BilibiliClient() as bilibili:
        assert await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0]) is None
    assert "SESSDATA" not in fake.calls(PLAYER)[0].cookies


async def test_rotated_wbi_keys_are_refreshed_once_and_the_call_retried(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
        fake.rotate_keys()
        transcript = await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
    assert transcript is not None and transcript.language == "zh-CN"
    assert len(fake.calls(NAV)) == 2
    assert len(fake.calls(PLAYER)) == 3  # ok, refused (old keys), ok


async def test_wbi_keys_are_cached_between_calls(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        for cid in MULTI_PART_CIDS[:3]:
            await bilibili.fetch_audio_urls(MULTI_PART[0], cid)
        await bilibili.fetch_subtitle(MULTI_PART[1], MULTI_PART_CIDS[0], MULTI_PART[0])
    assert len(fake.calls(NAV)) == 1


async def test_a_signature_that_keeps_failing_is_risk_control(fake: FakeBilibili) -> None:
    fake.fail_next(PLAYER, "json", body=envelope({"v_voucher": "voucher_x"}), times=10)
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
    assert caught.value.code == "risk_control"
    assert len(fake.calls(NAV)) == 2  # one refresh, not one per attempt
    assert len(fake.calls(PLAYER)) == 1 + RETRY_ATTEMPTS


async def test_a_nav_reply_without_keys_is_a_bad_response(fake: FakeBilibili) -> None:
    fake.fail_next(NAV, "json", body=envelope({"isLogin": False}, -101, "账号未登录"))
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_subtitle(WITH_SUBTITLES[1], 146044693, WITH_SUBTITLES[0])
    assert caught.value.code == "bad_response"


TRACK_URL = "//aisubtitle.hdslb.com/bfs/{kind}/prod/{name}?auth_key=1725003260-x"


def track(lan: str, name: str = "f", kind: str = "subtitle") -> dict[str, Any]:
    return {"lan": lan, "subtitle_url": TRACK_URL.format(kind=kind, name=name)}


@pytest.mark.parametrize(
    ("lans", "chosen"),
    [
        (["en-US", "ai-zh", "zh-Hans", "zh-CN"], "zh-CN"),
        (["en-US", "zh-Hant", "zh-Hans"], "zh-Hans"),
        (["ai-zh", "zh", "zh-Hant"], "zh"),
        (["ai-zh", "zh-Hant", "en-US"], "zh-Hant"),
        (["en-US", "ai-en", "ai-zh"], "ai-zh"),
        (["ai-en", "ja"], "ja"),
        (["ai-en"], "ai-en"),
        ([], None),
    ],
)
def test_subtitle_track_preference(lans: list[str], chosen: str | None) -> None:
    tracks = [
        track(lan, name=f"531599394121462703800{lan}", kind="ai_subtitle") if lan.startswith("ai-") else track(lan)
        for lan in lans
    ]
    best = choose_subtitle_track(tracks, aid=531599394, cid=1214627038)
    assert (best["lan"] if best else None) == chosen


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("5315993941214627038a1b2c3d", True),  # the documented observed pattern
        ("5315993941214627039a1b2c3d", False),  # another cid
        ("4315993941214627038a1b2c3d", False),  # another aid
        ("a1b2c3d5315993941214627038", False),
    ],
)
def test_ai_subtitle_must_start_with_aid_and_cid(name: str, matches: bool) -> None:
    url = TRACK_URL.format(kind="ai_subtitle", name=name)
    assert ai_subtitle_matches(url, 531599394, 1214627038) is matches


def test_an_ai_track_whose_url_cannot_be_checked_is_rejected() -> None:
    odd = {"lan": "ai-zh", "subtitle_url": "//aisubtitle.hdslb.com/bfs/subtitle/5315993941214627038.json"}
    assert choose_subtitle_track([odd], aid=531599394, cid=1214627038) is None


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("//i0.hdslb.com/bfs/subtitle/x.json", "https://api.bilibili.com", "https://i0.hdslb.com/bfs/subtitle/x.json"),
        ("//127.0.0.1:8000/bfs/subtitle/x.json", "http://127.0.0.1:8000", "http://127.0.0.1:8000/bfs/subtitle/x.json"),
        ("https://i0.hdslb.com/x.json", "http://127.0.0.1:1", "https://i0.hdslb.com/x.json"),
        ("javascript:alert(1)", "https://api.bilibili.com", None),
    ],
)
def test_absolute_subtitle_url(url: str, base: str, expected: str | None) -> None:
    assert absolute_subtitle_url(url, base) == expected


# --- audio ------------------------------------------------------------------------------------------


async def test_the_smallest_audio_stream_is_chosen_and_downloaded(fake: FakeBilibili) -> None:
    cid = MULTI_PART_CIDS[1]
    async with BilibiliClient() as bilibili:
        urls = await bilibili.fetch_audio_urls(MULTI_PART[0], cid)
        audio = await bilibili.download_audio(urls)
    assert len(urls) == 2
    assert urls[0].split("?")[0].endswith(f"/upgcxcode/{cid}-1-30216.m4s")
    assert urls[1].split("?")[0].endswith(f"/backup/{cid}-1-30216.m4s")
    smallest = min(fake.part(cid).audio or [], key=lambda stream: stream.bandwidth)
    assert audio == smallest.data
    query = fake.calls(PLAYURL)[0].query
    assert (query["bvid"], query["cid"], query["fnval"]) == (MULTI_PART[0], str(cid), "16")
    assert query["w_rid"] == compute_w_rid(query, fake.img_key, fake.sub_key)
    assert "try_look" not in query  # logged in
    download = fake.calls(f"/upgcxcode/{cid}-1-30216.m4s")[0]
    assert download.headers["referer"] == "https://www.bilibili.com/"


async def test_guests_send_the_guest_playurl_parameters(fake: FakeBilibili, settings: Any) -> None:
    settings.BILIBILI_SESSDATA = ""
    async with BilibiliClient() as bilibili:
        await bilibili.fetch_audio_urls(MULTI_PART[0], MULTI_PART_CIDS[0])
    query = fake.calls(PLAYURL)[0].query
    assert (query["try_look"], query["gaia_source"]) == ("1", "pre-load")


async def test_a_dead_base_url_falls_back_to_the_backup(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        urls = await bilibili.fetch_audio_urls(NO_SUBTITLES[0], 61_000_001)
        audio = await bilibili.download_audio(urls)
    assert "/dead/" in urls[0]
    assert audio == b"m4s-64k-61000001"
    assert [request.path.split("/")[1] for request in fake.requests if request.path.endswith(".m4s")] == [
        "dead",
        "backup",
    ]


async def test_audio_fails_when_every_url_fails(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        urls = await bilibili.fetch_audio_urls(NO_SUBTITLES[0], 61_000_001)
        failing = [urls[0], urls[0].replace("/dead/", "/nowhere/"), "http://127.0.0.1:9/closed.m4s"]
        with pytest.raises(AppError) as caught:
            await bilibili.download_audio(failing)
    assert (caught.value.code, caught.value.retryable) == ("audio_download_failed", True)


async def test_the_cdn_refuses_downloads_without_a_bilibili_referer(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        urls = await bilibili.fetch_audio_urls(MULTI_PART[0], MULTI_PART_CIDS[0])
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(urls[0])).status_code == 403


async def test_a_video_without_an_audio_track(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_audio_urls("BV1xx411c7mD", 62_000_001)
    assert caught.value.code == "no_audio"


# --- danmaku ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["raw", "deflate-header", "zlib", "plain"])
async def test_danmaku_in_every_encoding(fake: FakeBilibili, encoding: str) -> None:
    fake.danmaku_encoding = encoding
    async with BilibiliClient() as bilibili:
        items = await bilibili.fetch_danmaku(MULTI_PART_CIDS[0])
    assert items == [(pytest.approx(seconds), text) for seconds, text in DANMAKU]
    assert fake.calls(f"/{MULTI_PART_CIDS[0]}.xml")


async def test_missing_danmaku_is_an_error(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.fetch_danmaku(999)
    assert caught.value.code == "danmaku_unavailable"


def test_danmaku_xml_parsing_follows_the_documented_sample() -> None:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><i><chatid>144541892</chatid>'
        '<d p="490.19100,1,25,16777215,1584268892,0,a16fe0dd,29950852386521095">从结尾回来看这里，更感动了！</d>'
        '<d p="18.77300,1,25,16777215,1584268920,0,4fe08d3,29950867226492933,10">&lt;3 &amp; 好</d>'
        '<d p="bad,1,25">broken</d><d p="5.0,1,25">too few fields</d>'
        '<d p="7.0,1,25,16777215,1584268920,0,4fe08d3,1">\x01控制字符</d></i>'
    )
    assert danmaku_from_xml(xml.encode()) == [
        (7.0, "\x01控制字符"),
        (18.773, "<3 & 好"),
        (490.191, "从结尾回来看这里，更感动了！"),
    ]


@pytest.mark.parametrize("compress", [raw_deflate, zlib.compress, lambda data: data])
def test_inflate_danmaku(compress: Any) -> None:
    xml = danmaku_xml(1, DANMAKU)
    assert inflate_danmaku(compress(xml)) == xml


def test_inflate_danmaku_rejects_garbage() -> None:
    with pytest.raises(AppError) as caught:
        inflate_danmaku(b"\x00\x01garbage")
    assert caught.value.code == "bad_danmaku"


def test_danmaku_summary_buckets_and_top_texts() -> None:
    items = [(0.0, "a"), (9.99, "b"), (10.0, "c"), (12.0, "c"), (13.0, " c "), (14.0, "d"), (35.0, "e")]
    summary = danmaku_summary(items, bucket_seconds=10, top=1)
    assert summary == {
        "bucket_seconds": 10,
        "counts": [2, 4, 0, 1],
        "top_texts": [[["a", 1]], [["c", 3]], [], [["e", 1]]],
        "total": 7,
    }


def test_danmaku_summary_defaults_and_padding() -> None:
    summary = danmaku_summary(DANMAKU, duration_seconds=600)
    assert summary["bucket_seconds"] == 10
    assert len(summary["counts"]) == 60
    assert summary["counts"][:2] == [2, 3] and summary["counts"][49] == 1
    assert summary["top_texts"][1][0] == ["哈哈哈", 2]
    assert summary["total"] == len(DANMAKU) == sum(summary["counts"])


def test_danmaku_summary_of_nothing() -> None:
    assert danmaku_summary([]) == {"bucket_seconds": 10, "counts": [], "top_texts": [], "total": 0}
    with pytest.raises(ValueError):
        danmaku_summary([], bucket_seconds=0)


# --- short links --------------------------------------------------------------------------------------


async def test_a_short_link_is_resolved_from_its_location_header(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        ref = await bilibili.resolve_short_link("https://b23.tv/pigt3PQ")
    assert ref == VideoRef("BV17x411w7KC", 2)
    assert [request.path for request in fake.requests] == ["/pigt3PQ"]  # the redirect is not followed


async def test_resolve_reads_a_short_link_in_shared_text(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        ref = await bilibili.resolve("【【MV】保加利亚妖王AZIS视频合辑-哔哩哔哩】 https://b23.tv/pigt3PQ")
    assert ref == VideoRef("BV17x411w7KC", 2)


async def test_resolve_parses_plain_links_without_the_network(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        assert await bilibili.resolve("https://www.bilibili.com/video/av170001?p=3") == VideoRef("BV17x411w7KC", 3)
        assert await bilibili.resolve("https://b23.tv/BV1MU411S7iJ") == VideoRef("BV1MU411S7iJ", 1)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [("offsite", "short_link_offsite"), ("spacepg", "short_link_offsite"), ("expired", "short_link_expired")],
)
async def test_short_links_that_do_not_reach_a_video_are_invalid(fake: FakeBilibili, code: str, reason: str) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.resolve(f"看看 https://b23.tv/{code}")
    assert (caught.value.kind, caught.value.details) == (INVALID_LINK, {"reason": reason})
    assert [request.path for request in fake.requests] == [f"/{code}"]


async def test_the_short_link_host_in_user_text_is_never_contacted(fake: FakeBilibili) -> None:
    async with BilibiliClient() as bilibili:
        with pytest.raises(AppError) as caught:
            await bilibili.resolve_short_link("https://evil.example/pigt3PQ")
        assert caught.value.details == {"reason": "not_a_short_link"}
        ref = await bilibili.resolve_short_link("http://b23.tv/pigt3PQ?share_medium=android")
    assert ref == VideoRef("BV17x411w7KC", 2)
    assert [request.path for request in fake.requests] == ["/pigt3PQ"]
    assert fake.requests[0].query == {}


async def test_a_short_link_under_risk_control_is_retried(fake: FakeBilibili) -> None:
    fake.fail_next("/pigt3PQ", "http412")
    async with BilibiliClient() as bilibili:
        assert await bilibili.resolve_short_link("https://b23.tv/pigt3PQ") == VideoRef("BV17x411w7KC", 2)
    assert len(fake.calls("/pigt3PQ")) == 2

"""Link parsing, BV ↔ av and WBI signing, against the vectors in docs/bilibili-api.md §11."""

from __future__ import annotations

import hashlib
import random

import pytest

import videos
from core.errors import AppError
from videos import links
from videos.errors import INVALID_LINK
from videos.links import (
    av_to_bv,
    bv_to_av,
    find_short_link,
    is_bilibili_video_url,
    parse_video_ref,
    short_link_code,
    wbi_mixin_key,
    wbi_sign,
)
from videos.types import VideoRef

# §11.1: every documented pair, both ways (aid > 2**30 and aid > 2**46 included).
DOCUMENTED_PAIRS = [
    (170001, "BV17x411w7KC"),
    (85440373, "BV117411r7R1"),
    (111298867365120, "BV1L9Uoa9EUx"),
    (1906473802, "BV1MU411S7iJ"),
    (13502509, "BV1ex411J7GE"),
    (498159642, "BV1bK411W797"),
]
IMG_KEY = "7cd084941338484aae1ad9425b84077c"
SUB_KEY = "4932caff0ff746eab6f01bf08b70ac45"
MIXIN_KEY = "ea1db124af3c7062474693fa704f4ff8"


@pytest.mark.parametrize(("aid", "bvid"), DOCUMENTED_PAIRS)
def test_av_to_bv_matches_the_documented_pairs(aid: int, bvid: str) -> None:
    assert av_to_bv(aid) == bvid


@pytest.mark.parametrize(("aid", "bvid"), DOCUMENTED_PAIRS)
def test_bv_to_av_matches_the_documented_pairs(aid: int, bvid: str) -> None:
    assert bv_to_av(bvid) == aid


def test_the_legacy_algorithm_answer_is_not_reproduced() -> None:
    # The obsolete algorithm gives BV1CY4k1A7a3 for this aid (docs §1.1).
    assert av_to_bv(1906473802) != "BV1CY4k1A7a3"


@pytest.mark.parametrize("aid", [1, 2, 2**30, 2**32 + 7, 114075187020133, 2**46 + 1, 2**51 - 1])
def test_round_trip_at_the_edges(aid: int) -> None:
    bvid = av_to_bv(aid)
    assert len(bvid) == 12 and bvid.startswith("BV1")
    assert bv_to_av(bvid) == aid


def test_round_trip_for_random_aids() -> None:
    rng = random.Random(20260214)
    aids = [rng.randrange(1, 2**51) for _ in range(2000)] + [rng.randrange(1, 2**30) for _ in range(500)]
    bvids = [av_to_bv(aid) for aid in aids]
    assert [bv_to_av(bvid) for bvid in bvids] == aids
    assert len(set(bvids)) == len(set(aids))


@pytest.mark.parametrize("aid", [0, -1, 2**51, 2**60])
def test_av_to_bv_rejects_out_of_range(aid: int) -> None:
    with pytest.raises(AppError) as caught:
        av_to_bv(aid)
    assert (caught.value.kind, caught.value.details) == (INVALID_LINK, {"reason": "aid_out_of_range"})


@pytest.mark.parametrize("aid", ["170001", 170001.0, True, None])
def test_av_to_bv_rejects_non_integers(aid: object) -> None:
    with pytest.raises(TypeError):
        av_to_bv(aid)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bvid",
    [
        "",
        "BV17x411w7K",  # 11 characters
        "BV17x411w7KCC",  # 13 characters
        "BV27x411w7KC",  # the third character must be 1
        "bv17x411w7KC",  # bv_to_av is strict about the prefix (parse_video_ref is not)
        "BV17x411w7K0",  # 0 is not in the alphabet
        "BV17x411w7KI",  # nor is I
        "BV1FFFFFFFFF",  # all-zero digits: no 2**51 flag bit
        "BV1fffffffff",  # all-max digits: above 2**52
        "av170001",
    ],
)
def test_bv_to_av_rejects_malformed_ids(bvid: str) -> None:
    with pytest.raises(AppError) as caught:
        bv_to_av(bvid)
    assert (caught.value.kind, caught.value.details) == (INVALID_LINK, {"reason": "bad_bvid"})


def test_an_invalid_link_is_a_422_that_retrying_cannot_fix() -> None:
    with pytest.raises(AppError) as caught:
        bv_to_av("nope")
    error = caught.value
    assert (error.code, error.status, error.retryable) == ("invalid_link", 422, False)
    assert error.message("en") == (
        "Not a Bilibili video link: paste a video page address, a b23.tv short link or a BV/av id"
    )
    assert error.message("zh") == "无法识别的哔哩哔哩视频链接：请粘贴视频页地址、b23.tv 短链接或 BV/av 号"


# --- WBI (§3, §11.2) ------------------------------------------------------------------------------


def test_wbi_mixin_key_from_the_documented_keys() -> None:
    assert wbi_mixin_key(IMG_KEY, SUB_KEY) == MIXIN_KEY


def test_wbi_sign_reproduces_the_documented_example() -> None:
    signed = wbi_sign({"foo": "114", "bar": "514", "zab": 1919810}, IMG_KEY, SUB_KEY, 1702204169)
    assert signed == {
        "bar": "514",
        "foo": "114",
        "zab": "1919810",
        "w_rid": "8f6f2b5b3d485fe1886cec6a0be8c5d4",
        "wts": "1702204169",
    }
    # The documented final query, in the documented order.
    assert "&".join(f"{key}={value}" for key, value in signed.items()) == (
        "bar=514&foo=114&zab=1919810&w_rid=8f6f2b5b3d485fe1886cec6a0be8c5d4&wts=1702204169"
    )


def test_wbi_sign_quotes_like_encode_uri_component() -> None:
    # The docs' encoding example: spaces are %20, UTF-8 is upper-case hex.
    documented_query = "bar=%E4%BA%94%E4%B8%80%E5%9B%9B&baz=1919810&foo=one%20one%20four"
    signed = wbi_sign({"foo": "one one four", "bar": "五一四", "baz": 1919810}, IMG_KEY, SUB_KEY, 1702204169)
    expected = hashlib.md5(f"{documented_query}&wts=1702204169{MIXIN_KEY}".encode()).hexdigest()
    assert signed["w_rid"] == expected
    assert signed["foo"] == "one one four"


def test_wbi_sign_drops_filtered_characters_from_values() -> None:
    with_specials = wbi_sign({"q": "a!b'c(d)e*f", "n": "1"}, IMG_KEY, SUB_KEY, 1700000000)
    without = wbi_sign({"q": "abcdef", "n": "1"}, IMG_KEY, SUB_KEY, 1700000000)
    assert with_specials == without
    assert with_specials["q"] == "abcdef"


def test_wbi_sign_leaves_the_input_alone_and_replaces_old_signatures() -> None:
    params = {"bvid": "BV17x411w7KC", "w_rid": "stale", "wts": "1"}
    signed = wbi_sign(params, IMG_KEY, SUB_KEY, 1702204169)
    assert params == {"bvid": "BV17x411w7KC", "w_rid": "stale", "wts": "1"}
    assert signed["wts"] == "1702204169"
    assert signed == wbi_sign({"bvid": "BV17x411w7KC"}, IMG_KEY, SUB_KEY, 1702204169)
    assert signed["w_rid"] != wbi_sign({"bvid": "BV17x411w7KC"}, IMG_KEY, SUB_KEY, 1702204170)["w_rid"]


def test_wbi_mixin_key_needs_two_32_character_keys() -> None:
    with pytest.raises(ValueError):
        wbi_mixin_key("short", SUB_KEY)


# --- parse_video_ref ----------------------------------------------------------------------------

LINK_FORMS = [
    ("BV17x411w7KC", "BV17x411w7KC", 1),
    ("  BV17x411w7KC\n", "BV17x411w7KC", 1),
    ("bv17x411w7KC", "BV17x411w7KC", 1),
    ("av170001", "BV17x411w7KC", 1),
    ("AV170001", "BV17x411w7KC", 1),
    ("av1906473802", "BV1MU411S7iJ", 1),
    ("https://www.bilibili.com/video/BV17x411w7KC", "BV17x411w7KC", 1),
    ("https://www.bilibili.com/video/BV17x411w7KC/", "BV17x411w7KC", 1),
    ("http://www.bilibili.com/video/av170001/", "BV17x411w7KC", 1),
    ("https://bilibili.com/video/BV1bK411W797?p=2", "BV1bK411W797", 2),
    ("www.bilibili.com/video/BV1bK411W797?p=23", "BV1bK411W797", 23),
    ("https://m.bilibili.com/video/BV1ex411J7GE?p=4", "BV1ex411J7GE", 4),
    ("https://m.bilibili.com/video/av13502509", "BV1ex411J7GE", 1),
    (
        "https://www.bilibili.com/video/BV1bK411W797/?spm_id_from=333.1007.tianma.1-1-1.click"
        "&vd_source=0123456789abcdef&p=3&share_source=copy_web&unique_k=kpLP9MF",
        "BV1bK411W797",
        3,
    ),
    ("https://b23.tv/BV17x411w7KC", "BV17x411w7KC", 1),
    ("https://b23.tv/av170001?p=5", "BV17x411w7KC", 5),
    ("b23.tv/BV1MU411S7iJ", "BV1MU411S7iJ", 1),
    ("https://www.bilibili.com/festival/2021bnj?bvid=BV1MU411S7iJ", "BV1MU411S7iJ", 1),
    ("https://www.bilibili.com/festival/2021bnj?bvid=BV1MU411S7iJ&p=2&spm_id_from=333", "BV1MU411S7iJ", 2),
    ("【当我给拜年祭的快板加了电音配乐…】 https://www.bilibili.com/video/BV117411r7R1?p=2", "BV117411r7R1", 2),
    ("【标题】https://www.bilibili.com/video/BV117411r7R1/?share_source=copy_web哈哈", "BV117411r7R1", 1),
    ("看看这个：https://m.bilibili.com/video/av170001?p=7，很好看", "BV17x411w7KC", 7),
    ("分享一个视频 BV1L9Uoa9EUx 快来看", "BV1L9Uoa9EUx", 1),
    ("【标题】BV1L9Uoa9EUx", "BV1L9Uoa9EUx", 1),
    ("HTTPS://WWW.BILIBILI.COM/video/BV17x411w7KC", "BV17x411w7KC", 1),
]


@pytest.mark.parametrize(("text", "bvid", "page"), LINK_FORMS)
def test_parse_video_ref_accepts_every_link_form(text: str, bvid: str, page: int) -> None:
    assert parse_video_ref(text) == VideoRef(bvid=bvid, page=page)


@pytest.mark.parametrize(
    ("query", "page"), [("p=1", 1), ("p=0", 1), ("p=-2", 1), ("p=abc", 1), ("p=", 1), ("p=12", 12)]
)
def test_a_bad_page_number_means_part_one(query: str, page: int) -> None:
    assert parse_video_ref(f"https://www.bilibili.com/video/BV17x411w7KC?{query}").page == page


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "av",
        "BV17x411w7K",
        "BV17x411w7K0",
        "av0",
        f"av{2**51}",
        "看看 av170001",  # av numbers inside prose are not read
        "https://www.youtube.com/watch?v=BV17x411w7KC",
        "https://www.bilibili.com/",
        "https://space.bilibili.com/2/video",
        "https://www.bilibili.com/bangumi/play/ep1933368",
        "https://www.bilibili.com/video/ep1933368",
        "https://evilbilibili.com/video/BV17x411w7KC",
        "https://www.bilibili.com.evil.example/video/BV17x411w7KC",
        "https://www.bilibili.com@evil.example/video/BV17x411w7KC",
        "https://b23.tv/pigt3PQ",  # random codes need the network
        "ftp://www.bilibili.com/video/BV17x411w7KC",
        "https://www.bilibili.com/festival/2021bnj?bvid=notanid",
    ],
)
def test_parse_video_ref_rejects_anything_else(text: str) -> None:
    with pytest.raises(AppError) as caught:
        parse_video_ref(text)
    assert caught.value.kind == INVALID_LINK


def test_the_first_video_link_in_the_text_wins() -> None:
    text = "https://example.com/x https://www.bilibili.com/video/BV1MU411S7iJ?p=2 https://b23.tv/BV17x411w7KC"
    assert parse_video_ref(text) == VideoRef("BV1MU411S7iJ", 2)


def test_a_huge_text_without_a_link_fails_quickly() -> None:
    with pytest.raises(AppError) as caught:
        parse_video_ref("a." * 100_000 + "x" * 100_000)
    assert caught.value.details == {"reason": "not_a_video_link"}


# --- short links and redirect targets --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://b23.tv/pigt3PQ", "https://b23.tv/pigt3PQ"),
        ("【视频标题】 https://b23.tv/pigt3PQ", "https://b23.tv/pigt3PQ"),
        ("【视频标题】https://b23.tv/pigt3PQ?share_medium=android 打开看看", "https://b23.tv/pigt3PQ"),
        ("http://b23.tv/AbC1234/", "https://b23.tv/AbC1234"),
        ("b23.tv/AbC1234", "https://b23.tv/AbC1234"),
        ("https://b23.tv/BV17x411w7KC", None),  # parsed directly, no network needed
        ("https://b23.tv/av170001", None),
        ("https://b23.tv/", None),
        ("https://b23.tv/a/b", None),
        ("https://notb23.tv/pigt3PQ", None),
        ("https://www.bilibili.com/video/BV17x411w7KC", None),
        ("no link here", None),
        ("", None),
    ],
)
def test_find_short_link(text: str, expected: str | None) -> None:
    assert find_short_link(text) == expected


def test_short_link_code_keeps_only_the_code() -> None:
    assert short_link_code("https://b23.tv/pigt3PQ?share=1#x") == "pigt3PQ"
    assert short_link_code("https://evil.example/pigt3PQ") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.bilibili.com/video/BV1oM4y1G7LW?p=1&share_medium=android&unique_k=kpLP9MF", True),
        ("https://m.bilibili.com/video/av170001", True),
        ("http://bilibili.com/video/BV17x411w7KC", True),
        ("https://www.bilibili.com/festival/2021bnj?bvid=BV1MU411S7iJ", True),
        ("https://qr.qq.com/login", False),
        ("https://space.bilibili.com/2", False),
        ("https://www.bilibili.com/bangumi/play/ep1933368", False),
        ("https://b23.tv/BV17x411w7KC", False),
        ("https://www.bilibili.com@evil.example/video/BV17x411w7KC", False),
        ("https://bilibili.com.evil.example/video/BV17x411w7KC", False),
        ("//www.bilibili.com/video/BV17x411w7KC", False),
        ("/video/BV17x411w7KC", False),
        ("javascript:alert(1)//www.bilibili.com/video/BV17x411w7KC", False),
        ("https://www.bilibili.com/video/BV1FFFFFFFFF", False),
        ("", False),
    ],
)
def test_is_bilibili_video_url(url: str, expected: bool) -> None:
    assert is_bilibili_video_url(url) is expected


def test_the_app_package_exports_the_link_helpers() -> None:
    assert videos.parse_video_ref is links.parse_video_ref
    assert videos.av_to_bv is links.av_to_bv
    assert videos.bv_to_av is links.bv_to_av
    assert videos.wbi_sign is links.wbi_sign
    assert sorted(videos.__all__) == ["av_to_bv", "bv_to_av", "parse_video_ref", "wbi_sign"]

"""Bilibili links and ids, without any network: link parsing, BV ↔ av and WBI signing.

Everything here is pure, so it is safe to import anywhere (no Django models). The algorithms and
test vectors are in docs/bilibili-api.md §1 (ids, URL forms, b23.tv) and §3 (WBI).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from core.errors import AppError
from videos.errors import INVALID_LINK
from videos.types import VideoRef

# --- BV id ↔ av id (the current algorithm, valid for every aid below 2**51) --------------------

BV_ALPHABET = "FcwAPNKTMug3GV5Lj7EJnHpWsx4tb8haYeviqBz6rkCy12mUSDQX9RdoZf"
BV_XOR_CODE = 23442827791579
MAX_AID = 2**51
BV_MASK_CODE = MAX_AID - 1
_BV_BASE = len(BV_ALPHABET)
_BV_DIGIT_VALUES = {char: value for value, char in enumerate(BV_ALPHABET)}
_BV_SWAPS = ((3, 9), (4, 7))
_BV_BODY = f"1[{BV_ALPHABET}]{{9}}"  # what follows "BV" (case of the body matters)
_BV_PATTERN = re.compile(f"BV{_BV_BODY}")


def _swap_bv_positions(bvid: str) -> str:
    chars = list(bvid)
    for left, right in _BV_SWAPS:
        chars[left], chars[right] = chars[right], chars[left]
    return "".join(chars)


def av_to_bv(aid: int) -> str:
    """The BV id of an av id, e.g. 170001 → "BV17x411w7KC". Raises AppError(INVALID_LINK) out of range."""
    if isinstance(aid, bool) or not isinstance(aid, int):
        raise TypeError(f"aid must be an int, got {type(aid).__name__}")
    if not 0 < aid < MAX_AID:
        raise AppError(INVALID_LINK, details={"reason": "aid_out_of_range"})
    number = (aid | MAX_AID) ^ BV_XOR_CODE
    digits = []
    for _ in range(9):
        number, digit = divmod(number, _BV_BASE)
        digits.append(BV_ALPHABET[digit])
    return _swap_bv_positions("BV1" + "".join(reversed(digits)))


def bv_to_av(bvid: str) -> int:
    """The av id of a BV id, e.g. "BV17x411w7KC" → 170001. Raises AppError(INVALID_LINK) when malformed."""
    if not isinstance(bvid, str) or not _BV_PATTERN.fullmatch(bvid):
        raise AppError(INVALID_LINK, details={"reason": "bad_bvid"})
    number = 0
    for char in _swap_bv_positions(bvid)[3:]:
        number = number * _BV_BASE + _BV_DIGIT_VALUES[char]
    aid = (number & BV_MASK_CODE) ^ BV_XOR_CODE
    # A real BV id always carries the 2**51 flag bit and nothing above it.
    if number >> 51 != 1 or aid <= 0:
        raise AppError(INVALID_LINK, details={"reason": "bad_bvid"})
    return aid


# --- Links ---------------------------------------------------------------------------------------

_BARE_ID = re.compile(rf"(?:[bB][vV](?P<bv>{_BV_BODY})|[aA][vV](?P<av>\d{{1,16}}))")
_VIDEO_PATH = re.compile(rf"/video/{_BARE_ID.pattern}/?(?:/.*)?")
_SHORT_ID_PATH = re.compile(rf"/{_BARE_ID.pattern}/?")
# One URL inside free text (scheme optional); stops at spaces, CJK text and brackets. The
# lookbehind starts matches only at token boundaries, which keeps the scan linear in the text.
_URL_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9\-.:/@])(?:(?i:https?)://)?(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?::\d+)?(?:/[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]*)?",
)
# A BV id standing on its own inside text, e.g. "【标题】BV17x411w7KC" (not one inside a URL).
_BV_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9/=?&#%@:._-])BV(?P<bv>{_BV_BODY})(?![A-Za-z0-9])")
_HAS_SCHEME = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://")
_SHORT_LINK_HOSTS = frozenset({"b23.tv", "www.b23.tv"})
_SHORT_CODE = re.compile(r"[0-9A-Za-z]{4,16}")


def _ref_from_id_match(match: re.Match[str], page: int = 1) -> VideoRef:
    if match.group("bv"):
        bvid = "BV" + match.group("bv")
        bv_to_av(bvid)  # validates the encoded aid
        return VideoRef(bvid=bvid, page=page)
    return VideoRef(bvid=av_to_bv(int(match.group("av"))), page=page)


def _page_from_query(query: str) -> int:
    """`?p=N` as a 1-based page. A missing, zero, negative or non-numeric p means part 1."""
    values = parse_qs(query).get("p", [])
    value = values[0].strip() if values else ""
    return int(value) if value.isdigit() and int(value) >= 1 else 1


def _is_bilibili_host(host: str) -> bool:
    return host == "bilibili.com" or host.endswith(".bilibili.com")


def _split_url(url: str) -> tuple[str, str, str, str] | None:
    """(scheme, host, path, query) of an http(s) URL (a missing scheme means https), or None."""
    if not _HAS_SCHEME.match(url):
        url = "https://" + url
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return parts.scheme.lower(), host, parts.path, parts.query


def _ref_from_url(url: str) -> VideoRef | None:
    """The video a single URL names, or None when it is not a (supported) video URL."""
    split = _split_url(url)
    if split is None:
        return None
    _, host, path, query = split
    page = _page_from_query(query)
    if host in _SHORT_LINK_HOSTS:
        match = _SHORT_ID_PATH.fullmatch(path)
        return _ref_from_id_match(match, page) if match else None
    if not _is_bilibili_host(host):
        return None
    if match := _VIDEO_PATH.fullmatch(path):
        return _ref_from_id_match(match, page)
    if path.startswith("/festival/"):
        bvid = (parse_qs(query).get("bvid") or [""])[0]
        if match := _BARE_ID.fullmatch(bvid):
            return _ref_from_id_match(match, page)
    return None


def parse_video_ref(text: str) -> VideoRef:
    """The video named by a bare id (BV…/av…), a video URL, or text that contains one.

    Accepted: a bare BV/av id (the whole text); www./m./bilibili.com/video/… (?p=N kept,
    tracking params ignored); b23.tv/BV… and b23.tv/av…; festival pages with ?bvid=; and, when
    the text holds no such link, a BV id standing alone inside it (av numbers inside prose are
    too ambiguous and are not read). A bad p (0, negative, not a number) falls back to part 1,
    since the link still names the video. Random-code b23.tv links need the network: see
    `find_short_link` and `BilibiliClient.resolve`.
    """
    stripped = (text or "").strip()
    if match := _BARE_ID.fullmatch(stripped):
        return _ref_from_id_match(match)
    for candidate in _URL_IN_TEXT.finditer(stripped):
        ref = _ref_from_url(candidate.group(0))
        if ref is not None:
            return ref
    for match in _BV_IN_TEXT.finditer(_URL_IN_TEXT.sub(" ", stripped)):
        try:
            return _ref_from_id_match(match)
        except AppError:
            continue
    raise AppError(INVALID_LINK, details={"reason": "not_a_video_link"})


def short_link_code(url: str) -> str | None:
    """The code of a random-code b23.tv link ("https://b23.tv/pigt3PQ" → "pigt3PQ"), else None.

    b23.tv/BV… and b23.tv/av… are not random codes: `parse_video_ref` reads them directly.
    """
    split = _split_url(url)
    if split is None or split[1] not in _SHORT_LINK_HOSTS:
        return None
    code = split[2].strip("/")
    if not _SHORT_CODE.fullmatch(code) or _BARE_ID.fullmatch(code):
        return None
    return code


def find_short_link(text: str) -> str | None:
    """The first random-code b23.tv link in the text, as https://b23.tv/<code>, or None."""
    for candidate in _URL_IN_TEXT.finditer(text or ""):
        code = short_link_code(candidate.group(0))
        if code is not None:
            return f"https://b23.tv/{code}"
    return None


def is_bilibili_video_url(url: str) -> bool:
    """True for an absolute http(s) URL on bilibili.com or *.bilibili.com naming a video page."""
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return False
    split = _split_url(url)
    if split is None or not _is_bilibili_host(split[1]):
        return False
    try:
        return _ref_from_url(url) is not None
    except AppError:
        return False


# --- WBI signing ---------------------------------------------------------------------------------

WBI_MIXIN_TABLE = (
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35,
    27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14, 39, 12, 38, 41, 13,
    37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4,
    22, 25, 54, 21, 56, 59, 6, 63, 57, 62, 11, 36, 20, 34, 44, 52,
)  # fmt: skip
_WBI_FILTERED_CHARS = str.maketrans("", "", "!'()*")


def wbi_mixin_key(img_key: str, sub_key: str) -> str:
    raw = img_key + sub_key
    if len(raw) != len(WBI_MIXIN_TABLE):
        raise ValueError("img_key and sub_key must be 32 characters each")
    return "".join(raw[index] for index in WBI_MIXIN_TABLE)[:32]


def wbi_sign(params: Mapping[str, Any], img_key: str, sub_key: str, wts: int) -> dict[str, str]:
    """`params` (values as strings, with !'()* removed) plus `w_rid` and `wts`, as in the docs.

    The hashed string is the sorted params (with wts) quoted like JS encodeURIComponent.
    """
    cleaned = {str(key): str(value).translate(_WBI_FILTERED_CHARS) for key, value in params.items()}
    cleaned.pop("w_rid", None)
    cleaned["wts"] = str(int(wts))
    query = "&".join(f"{quote(key, safe='')}={quote(cleaned[key], safe='')}" for key in sorted(cleaned))
    w_rid = hashlib.md5((query + wbi_mixin_key(img_key, sub_key)).encode(), usedforsecurity=False).hexdigest()
    signed = {key: cleaned[key] for key in sorted(cleaned) if key != "wts"}
    return {**signed, "w_rid": w_rid, "wts": cleaned["wts"]}
